import EngramRAG
import Foundation

/// Answers kept by the exact question they answered: the model, the prompt (which holds the
/// passages' texts and dates, the question and today's date) and the sampling settings. An
/// answer is reused only for the same prompt, so it is never stale: a memory it used that
/// changed, or a new memory now among the passages, makes another prompt. The change-log
/// consumer `ask-cache` removes the entries that used a memory changed or deleted since, so
/// that the cache keeps no answer that can no longer be asked for.
///
/// Column families: `ask_cache`: the key's hash → JSON `{key, response, ids}`; the key is
/// stored whole and compared on lookup, so two keys with one hash never mix (a 64-bit FNV-1a
/// hash is enough for that; no cryptographic hash is needed). `ask_cache_refs`:
/// `id ‖ 0x00 ‖ hash` → empty, for each memory an entry used.
enum AskCache {
    static let entries = "ask_cache"
    static let refs = "ask_cache_refs"
    static let consumer = "ask-cache"

    struct Entry: Codable {
        var key: String
        var response: AskResponse
        var ids: [String]
    }

    /// The key of a prepared question: JSON of the model, the prompt and the settings.
    static func key(model: String, prepared: Asker.Prepared) throws -> String {
        struct Key: Encodable {
            var model: String
            var turns: [ChatTurn]
            var settings: GenerationSettings
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(Key(model: model, turns: prepared.turns, settings: prepared.settings)), as: UTF8.self)
    }

    /// The answer stored under `key`, if any.
    static func lookup(_ store: MemoryStore, key: String) throws -> AskResponse? {
        guard let raw = try store.value(in: entries, key: hash(key)),
              let entry = try? JSONDecoder().decode(Entry.self, from: Data(raw)), entry.key == key else { return nil }
        return entry.response
    }

    /// Stages `response` under `key` in `tx`, with a reference from each memory it used.
    static func stage(key: String, response: AskResponse, ids: [String], in tx: StoreTransaction) throws {
        let h = hash(key)
        try tx.put(entries, key: h, value: Array(try JSONEncoder().encode(Entry(key: key, response: response, ids: ids))))
        for id in Set(ids) { try tx.put(refs, key: refKey(id, h), value: []) }
    }

    /// Applies the change log since the consumer's watermark: drops every entry that used a
    /// memory written or deleted since, then advances the watermark (in the same write). A
    /// watermark behind the trimmed log (a database from before the cache) drops everything.
    static func collect(_ store: MemoryStore) throws {
        try ChangeFollower.follow(store, consumer: consumer, family: refs, reset: { tx in
            try tx.deleteRange(entries, from: [], to: [UInt8](repeating: 0xFF, count: 9))
            try tx.deleteRange(refs, from: [], to: [0xFF])
        }, gather: { changes in
            var stale = Set<[UInt8]>()
            for change in changes where change.kind != .touch {
                try store.scan(refs, prefix: Array(change.id.utf8) + [0]) { key, _ in
                    stale.insert(Array(key.suffix(8)))
                    return true
                }
            }
            return stale
        }, apply: { stale, tx in
            for h in stale {
                // Every reference of a dropped entry goes with it.
                if let raw = try tx.get(entries, key: h), let entry = try? JSONDecoder().decode(Entry.self, from: Data(raw)) {
                    for id in Set(entry.ids) { try tx.delete(refs, key: refKey(id, h)) }
                }
                try tx.delete(entries, key: h)
            }
        })
    }

    static func refKey(_ id: String, _ hash: [UInt8]) -> [UInt8] { Array(id.utf8) + [0] + hash }

    /// FNV-1a, 64 bits, big-endian.
    static func hash(_ key: String) -> [UInt8] {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        return withUnsafeBytes(of: h.bigEndian) { Array($0) }
    }
}
