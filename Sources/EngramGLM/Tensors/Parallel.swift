/// Splits `0..<count` into contiguous chunks (a few per thread, at least `minimumChunk`
/// items each) and runs them on the threads of `workers`, the calling thread included.
/// Threads claim chunks dynamically, so a slow or descheduled thread does not hold the
/// others back. Returns when every chunk is done.
@inline(__always)
func parallelChunks(_ count: Int, workers: WorkerPool, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let maxChunks = count / max(1, minimumChunk)
    if workers.size <= 1 || maxChunks <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let chunks = min(maxChunks, workers.size * chunksPerThread, WorkerPool.maximumChunks)
    workers.run(chunks: chunks) { c in
        let lo = count * c / chunks, hi = count * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}

/// Chunks per thread in `parallelChunks`: enough for the others to absorb a stalled thread.
let chunksPerThread = 4

/// A raw pointer that may cross into the worker closures of `parallelChunks`; each worker
/// writes a disjoint range.
struct SharedPointer<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
