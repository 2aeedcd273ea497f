import Synchronization

/// The threads an index build may use, read again before each chunk of its work: a
/// background build leaves a core to queries and writes, and speeds up to every core when
/// nothing is left for it to yield to (`MemoryStore.close` waits for it).
final class BuildThreads: Sendable {
    private let count: Atomic<Int>

    init(_ count: Int) { self.count = Atomic(max(1, count)) }

    var current: Int { count.load(ordering: .relaxed) }

    func set(_ count: Int) { self.count.store(max(1, count), ordering: .relaxed) }

    /// Applies the current count to FAISS's OpenMP threads on the calling thread and to
    /// OpenBLAS's (process-wide; the thread budget may keep it at one, see
    /// `ThreadBudget.configureBLAS`); returns it. Cheap when nothing changed.
    @discardableResult
    func apply() -> Int {
        let n = current
        FaissIndex.setThreads(n)
        FaissIndex.setBLASThreads(n)
        return n
    }

    /// `apply` for IVF training, with FAISS's OpenMP kept at one thread on the calling thread:
    /// training's OpenMP regions (k-means' small steps) are short and far apart, and between
    /// them OpenMP's idle threads spin, which took a core from the build itself (the 1,024-list
    /// rebuild at 65,877 memories ran 5.5 s instead of 1.4 s). Its products use OpenBLAS's
    /// threads and the returned count.
    @discardableResult
    func applyForTraining() -> Int {
        let n = current
        FaissIndex.setThreads(1)
        FaissIndex.setBLASThreads(n)
        return n
    }
}
