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
    /// `ThreadBudget.configureBLAS`). Cheap when nothing changed.
    func apply() {
        let n = current
        FaissIndex.setThreads(n)
        FaissIndex.setBLASThreads(n)
    }
}
