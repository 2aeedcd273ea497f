import Dispatch

/// Splits `0..<count` into contiguous chunks and runs them on up to `threads` threads
/// (the calling thread included). Returns when every chunk is done.
@inline(__always)
func parallelChunks(_ count: Int, threads: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let workers = max(1, min(threads, count / max(1, minimumChunk)))
    if workers == 1 {
        body(0..<count)
        return
    }
    // Workers run only during this call and each gets a disjoint range.
    WorkerPool.shared(workers).run { w in
        let lo = count * w / workers, hi = count * (w + 1) / workers
        if lo < hi { body(lo..<hi) }
    }
}

/// A raw pointer that may cross into the worker closures of `parallelChunks`; each worker
/// writes a disjoint range.
struct SharedPointer<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
