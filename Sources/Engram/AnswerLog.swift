import EngramBase
import Foundation

extension EngramError.Reason {
    /// The answer already received feedback.
    public static let feedbackGiven = EngramError.Reason("FEEDBACK_GIVEN")
}

/// The answers `ask` generated, kept for `[ask] answer_retention` so that feedback can find
/// what an answer cited.
///
/// Column family `ask_answers`: answer id → JSON `Entry`. Answer ids start with the time of
/// the answer (milliseconds, 12 hex digits, then 12 random ones), so the family is in time
/// order and `prune` drops the expired ones with one range deletion.
enum AnswerLog {
    static let family = "ask_answers"

    struct Entry: Codable {
        var question: String
        var at: Timestamp
        var response: AskResponse
        /// Set once, by the feedback the answer received.
        var feedback: Given?

        struct Given: Codable {
            var verdict: Verdict
            var at: Timestamp
            var note: String?
        }
    }

    /// A new answer id made at `time`: 24 hex digits, ordered by time.
    static func newId(at time: Double) -> String {
        var g = SystemRandomNumberGenerator()
        return idPrefix(at: time) + String(format: "%012llx", (g.next() as UInt64) & 0xFFFF_FFFF_FFFF)
    }

    /// The 12 hex digits of `time` in milliseconds.
    static func idPrefix(at time: Double) -> String {
        String(format: "%012llx", UInt64(max(0, min(time * 1000, 0xFFFF_FFFF_FFFF))))
    }

    /// Whether `id` has the form of an answer id.
    static func isValidId(_ id: String) -> Bool {
        id.utf8.count == 24 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    static func put(_ entry: Entry, in tx: StoreTransaction) throws {
        try tx.put(family, key: Array(entry.response.answerId.utf8), value: Array(try JSONEncoder().encode(entry)))
    }

    static func entry(_ id: String, in tx: StoreTransaction) throws -> Entry? {
        try tx.get(family, key: Array(id.utf8)).map { try JSONDecoder().decode(Entry.self, from: Data($0)) }
    }

    static func entry(_ id: String, in store: MemoryStore) throws -> Entry? {
        try store.value(in: family, key: Array(id.utf8)).map { try JSONDecoder().decode(Entry.self, from: Data($0)) }
    }

    /// Drops the answers older than `retention` seconds before `now`.
    static func prune(_ store: MemoryStore, retention: Double, now: Double) throws {
        let end = Array(idPrefix(at: now - retention).utf8)
        var any = false
        try store.scan(family, prefix: []) { key, _ in
            any = key.lexicographicallyPrecedes(end)
            return false
        }
        if any { try store.write { tx in try tx.deleteRange(family, from: [], to: end) } }
    }
}
