import EngramBase
import Foundation

/// What a reader sees of the store: the catalog (with the codes), the index structure and
/// the handles to read records and vectors. Immutable; the writer publishes a new one after
/// every commit, rebuild and swap, and a reader keeps the one it started with to the end.
struct StoreView: @unchecked Sendable {
    /// nil once the store is closed. A reader holding a view keeps RocksDB open until it is
    /// done (the handle closes when its last holder lets go).
    let db: RocksDB?
    /// RocksDB as of this view: the full-text postings are read through it, so that they
    /// agree with the catalog whatever is written meanwhile.
    let snapshot: ReadSnapshot?
    let catalog: Catalog
    let index: VectorIndex
    let vectors: VectorSource
    let textStats: TextStats
    let textIndexCurrent: Bool
    /// Full-text segments not yet merged into the postings blocks as of `snapshot`.
    let pendingText: PendingText
    /// The memories of each thread in order, with `[text] context_window` (else nil).
    let threads: ThreadIndex?

    /// The RocksDB handle, or `closed`.
    func requireOpen() throws -> RocksDB {
        guard let db else { throw EngramError.closed }
        return db
    }
}

extension MemoryStore {
    /// Publishes the writer's current state to readers (caller holds the writer lock).
    func publishLocked() {
        let view = StoreView(db: db, snapshot: db?.snapshot(), catalog: catalog.withoutIdIndex, index: index, vectors: vectorSource,
                             textStats: textStats, textIndexCurrent: textIndexCurrent,
                             pendingText: pendingText, threads: threads)
        // The previous view is released after the lock: freeing its columns (when no reader
        // holds them any more) must not keep readers waiting for the lock.
        let previous = published.withLock { current -> StoreView in
            let previous = current
            current = view
            return previous
        }
        withExtendedLifetime(previous) {}
    }

    /// The last published view.
    func currentView() -> StoreView { published.withLock { $0 } }
}
