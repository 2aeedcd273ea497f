import Foundation

/// How feedback moves importance, and the record of every move.
///
/// The rule: a good answer moves the importance `i` of each memory it cited a share `r`
/// (`[ask] feedback_rate`, default 0.2) of the way up to 1, `i + r·(1 − i)`; a bad one a
/// share of the way down to 0, `i − r·i`. Importance stays in [0, 1], a single feedback moves
/// it by at most `r`, and repeated feedback approaches the bound without passing it. Each
/// answer takes feedback once.
///
/// Column family `importance_history`: `memory id ‖ 0x00 ‖ answer id` → JSON
/// `ImportanceAdjustment` (in time order per memory, since answer ids are). The consumer
/// `importance-history` drops the history of a memory that no longer exists.
enum ImportanceHistory {
    static let family = "importance_history"
    static let consumer = "importance-history"

    /// The importance after one feedback with `verdict` at `rate`.
    static func adjusted(_ importance: Double, _ verdict: Verdict, rate: Double) -> Double {
        switch verdict {
        case .good: return importance + rate * (1 - importance)
        case .bad: return importance - rate * importance
        }
    }

    static func key(_ id: String, answerId: String) -> [UInt8] { Array(id.utf8) + [0] + Array(answerId.utf8) }

    static func put(_ adjustment: ImportanceAdjustment, of id: String, in tx: StoreTransaction) throws {
        try tx.put(family, key: key(id, answerId: adjustment.answerId), value: Array(try JSONEncoder().encode(adjustment)))
    }

    /// The adjustments of memory `id`, oldest first.
    static func of(_ id: String, in store: MemoryStore) throws -> [ImportanceAdjustment] {
        var out: [ImportanceAdjustment] = []
        try store.scan(family, prefix: Array(id.utf8) + [0]) { _, value in
            out.append(try JSONDecoder().decode(ImportanceAdjustment.self, from: Data(value)))
            return true
        }
        return out
    }

    /// Drops the history of the memories deleted since the consumer's watermark (a memory
    /// replaced by an upsert keeps its history).
    static func collect(_ store: MemoryStore) throws {
        func hasHistory(_ id: String) throws -> Bool {
            var found = false
            try store.scan(family, prefix: Array(id.utf8) + [0]) { _, _ in
                found = true
                return false
            }
            return found
        }
        func drop(_ id: String, _ tx: StoreTransaction) throws {
            try tx.deleteRange(family, from: Array(id.utf8) + [0], to: Array(id.utf8) + [1])
        }
        try ChangeFollower.follow(store, consumer: consumer, family: family, reset: { tx in
            // A log trimmed past the watermark: check every memory with a history.
            var ids = Set<String>()
            try store.scan(family, prefix: []) { key, _ in
                if let zero = key.firstIndex(of: 0) { ids.insert(String(decoding: key[..<zero], as: UTF8.self)) }
                return true
            }
            for id in ids where try tx.memory(id) == nil { try drop(id, tx) }
        }, gather: { changes in
            try Set(changes.filter { $0.kind == .delete }.map(\.id)).filter(hasHistory)
        }, apply: { ids, tx in
            for id in ids where try tx.memory(id) == nil { try drop(id, tx) }
        })
    }
}
