import Foundation

/// Keeps state derived from the memories (in a module's own column family) in step with the
/// store's change log, through a registered consumer's watermark: the effects of each batch of
/// changes and the watermark past them commit in one write, so that a crash between the two
/// cannot happen.
enum ChangeFollower {
    /// Changes applied per write.
    static let batch = 10_000

    /// Brings `consumer` up to date. `gather` reads what a batch of changes affects (outside
    /// the writer lock); `apply` stages its effects in the write that advances the watermark.
    /// With nothing stored in `family` the watermark just moves to the end (so that it never
    /// holds the log's trimming back); behind the trimmed log (a database from before the
    /// consumer) `reset` restores the state from scratch in the write that moves it.
    static func follow<Gathered>(_ store: MemoryStore, consumer: String, family: String,
                                 reset: (StoreTransaction) throws -> Void,
                                 gather: ([ChangeRecord]) throws -> Gathered,
                                 apply: (Gathered, StoreTransaction) throws -> Void) throws {
        let state = try store.consumerState(consumer)
        var seq = state.watermark
        guard seq < store.lastChange else { return }
        var empty = true
        try store.scan(family, prefix: []) { _, _ in
            empty = false
            return false
        }
        if empty || seq < state.trimmedThrough {
            try store.write { tx in
                if !empty { try reset(tx) }
                try tx.advanceWatermark(consumer, to: tx.lastChange)
            }
            return
        }
        while true {
            let changes = try store.changes(after: seq, limit: batch)
            guard let last = changes.last else { return }
            let gathered = try gather(changes)
            try store.write { tx in
                try apply(gathered, tx)
                try tx.advanceWatermark(consumer, to: last.seq)
            }
            seq = last.seq
        }
    }
}
