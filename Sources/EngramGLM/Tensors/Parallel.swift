/// Splits `0..<count` into contiguous chunks (`perThread` per thread, at least `minimumChunk`
/// items each) and runs them on the threads of `workers`, the calling thread included.
/// Threads claim chunks dynamically, so a slow or descheduled thread does not hold the
/// others back. Returns when every chunk is done.
@inline(__always)
func parallelChunks(_ count: Int, workers: WorkerPool, minimumChunk: Int = 1, perThread: Int = chunksPerThread,
                    _ body: (Range<Int>) -> Void) {
    let maxChunks = count / max(1, minimumChunk)
    if workers.size <= 1 || maxChunks <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let chunks = min(maxChunks, workers.size * perThread, WorkerPool.maximumChunks)
    workers.run(chunks: chunks) { c in
        let lo = count * c / chunks, hi = count * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}

/// Chunks per thread in `parallelChunks`: enough for the others to absorb a stalled thread.
let chunksPerThread = 4

/// Chunks per thread for a batch's products on the tiles: for a long prompt a group of 16 rows
/// is tens of microseconds of work, so small chunks cost little to claim and leave the threads
/// at most one chunk apart at the end of a product (with 4 chunks a thread, the thread done
/// first waited for a quarter of the other's share). Each chunk holds at least
/// `batchChunkTokenGroups / tokens` groups, so that a short batch keeps larger chunks.
let batchChunksPerThread = 64
let batchChunkTokenGroups = 256

/// `parallelChunks` over `groups` groups of 16 rows of a batch's products on the tiles, chunked
/// for `tokens` tokens as `batchChunksPerThread` says.
@inline(__always)
func parallelBatchGroups(_ groups: Int, tokens: Int, workers: WorkerPool, _ body: (Range<Int>) -> Void) {
    parallelChunks(groups, workers: workers, minimumChunk: batchChunkTokenGroups / tokens, perThread: batchChunksPerThread, body)
}

/// A raw pointer that may cross into the worker closures of `parallelChunks`; each worker
/// writes a disjoint range.
struct SharedPointer<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
