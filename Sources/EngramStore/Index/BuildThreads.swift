import EngramBase
import Foundation
import Synchronization

/// The threads an index build may use, read again before each chunk of its work: a
/// background build leaves a core to queries and writes, and speeds up to every core when
/// nothing is left for it to yield to (`MemoryStore.close` waits for it). A build is also
/// stopped here: after `stop()`, the next chunk of every build using these threads throws
/// `EngramError(.cancelled)` instead of starting.
package final class BuildThreads: Sendable {
    private let count: Atomic<Int>
    private let stopped = Atomic<Bool>(false)

    package init(_ count: Int) { self.count = Atomic(max(1, count)) }

    var current: Int { count.load(ordering: .relaxed) }

    package func set(_ count: Int) { self.count.store(max(1, count), ordering: .relaxed) }

    /// Makes every build using these threads stop at its next chunk (for a closing store,
    /// which leaves the work to the next open). There is no way back: a store's threads are
    /// stopped only when it closes.
    package func stop() { stopped.store(true, ordering: .relaxed) }

    /// Throws `EngramError(.cancelled)` once `stop()` was called.
    func checkNotStopped() throws {
        if stopped.load(ordering: .relaxed) { throw EngramError(.cancelled, "the index build was stopped") }
    }

    /// Applies the current count to FAISS's OpenMP threads on the calling thread and to
    /// OpenBLAS's (process-wide; the thread budget may keep it at one, see
    /// `ThreadBudget.configureBLAS`); returns it. Cheap when nothing changed. Throws
    /// `EngramError(.cancelled)` once `stop()` was called.
    @discardableResult
    func apply() throws -> Int {
        try checkNotStopped()
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
    func applyForTraining() throws -> Int {
        try checkNotStopped()
        let n = current
        FaissIndex.setThreads(1)
        FaissIndex.setBLASThreads(n)
        return n
    }

    /// Runs `body` for the items `0..<count`, taken in order by up to `current` threads: the
    /// calling one, and helpers started when an item is taken and the count allows more (a
    /// build that `MemoryStore.close` speeds up gains threads at its next item). Helpers
    /// inherit the calling thread's scheduling priority. Returns when every item is done;
    /// rethrows the first error (the items not started then are skipped); after `stop()`,
    /// the items not started are skipped and `EngramError(.cancelled)` is thrown.
    package func forEachItem(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
        let items = Items(count: count) { [self] item in
            try checkNotStopped()
            try body(item)
        }
        while let item = items.take() {
            while items.running.load(ordering: .relaxed) < min(current, count - item) {
                items.running.add(1, ordering: .relaxed)
                items.helpers.enter()
                Thread.detachNewThread {
                    while let item = items.take() { items.run(item) }
                    items.helpers.leave()
                }
            }
            items.run(item)
        }
        items.helpers.wait()
        if let failure = items.state.withLock({ $0.failure }) { throw failure }
    }
}

/// The items of one `BuildThreads.forEachItem`, shared by its threads.
private final class Items: Sendable {
    let count: Int
    let body: @Sendable (Int) throws -> Void
    let state = Mutex<(next: Int, failure: (any Error)?)>((0, nil))
    /// Threads taking items, the calling one included.
    let running = Atomic<Int>(1)
    let helpers = DispatchGroup()

    init(count: Int, body: @escaping @Sendable (Int) throws -> Void) {
        self.count = count
        self.body = body
    }

    /// The next item, or nil when none is left or one has failed.
    func take() -> Int? {
        state.withLock { state in
            guard state.failure == nil, state.next < count else { return nil }
            state.next += 1
            return state.next - 1
        }
    }

    func run(_ item: Int) {
        do { try body(item) } catch { state.withLock { if $0.failure == nil { $0.failure = error } } }
    }
}
