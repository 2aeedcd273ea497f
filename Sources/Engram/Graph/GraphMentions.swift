import EngramGraph
import Foundation

/// The graph of what memory texts mention, kept in step with the memories through the
/// change-log consumer `graph-mentions`.
///
/// Each memory that mentions entities (`[graph]` names and patterns, `MentionExtractor`) has a
/// `MENTIONS` edge to each, valid from the memory's time; every two entities mentioned by the
/// same memory share a `CO_OCCURS` edge whose weight is the number of memories that mention
/// both. A changed text closes the mentions it lost and opens the new ones; a deleted memory
/// closes its mentions and lowers the weights (an edge at weight 0 is closed).
///
/// Column family `graph_mentions`: memory id → JSON `[entity key]` (what the graph holds for
/// it now); the empty key holds the fingerprint of the settings the mentions were found with,
/// so that changed names or patterns make every memory be looked at again.
///
/// Each memory's new mentions are compared with the stored ones inside the write, under the
/// store's writer lock: applying the same state twice changes nothing, so two followers, or a
/// rebuild and the changes it saw, cannot count a mention twice.
enum GraphMentions {
    static let family = "graph_mentions"
    static let consumer = "graph-mentions"
    static let mentions = "MENTIONS"
    static let coOccurs = "CO_OCCURS"
    /// Memories a co-occurrence edge lists as its support (the latest); its weight counts all.
    static let maxSupport = 16
    /// Memories looked at per write.
    static let batch = 2_000

    /// Brings the mentions up to date with the memories.
    static func follow(_ store: MemoryStore, settings: GraphSettings) throws {
        let stored = try store.value(in: family, key: []).map { String(decoding: $0, as: UTF8.self) }
        let state = try store.consumerState(consumer)
        let unchanged = stored == settings.fingerprint || (stored == nil && settings.extractor.isEmpty)
        if unchanged && state.watermark >= store.lastChange { return }
        if !unchanged || state.watermark < state.trimmedThrough {
            try rebuild(store, settings: settings)
        } else if settings.extractor.isEmpty {
            // Nothing is configured and nothing was found before: only move past the changes.
            try store.write { tx in try tx.advanceWatermark(consumer, to: tx.lastChange) }
            return
        }
        var seq = try store.consumerState(consumer).watermark
        while true {
            let changes = try store.changes(after: seq, limit: ChangeFollower.batch)
            guard let last = changes.last else { return }
            var ids: [String] = []
            var seen = Set<String>()
            for change in changes.reversed() where !change.id.isEmpty && seen.insert(change.id).inserted { ids.append(change.id) }
            for chunk in stride(from: 0, to: ids.count, by: batch).map({ ids[$0..<min($0 + batch, ids.count)] }) {
                let found = try chunk.map { id in Found(try store.find(id, withVector: false), id: id, settings: settings) }
                try store.write { tx in try apply(found, tx) }
            }
            // A crash before this write only makes the next follower look at the same memories again.
            try store.write { tx in try tx.advanceWatermark(consumer, to: last.seq) }
            seq = last.seq
        }
    }

    /// A memory as the follower found it: nil when it no longer exists.
    struct Found {
        var id: String
        var memory: (time: Double, entities: [String])?

        init(id: String, memory: (time: Double, entities: [String])?) {
            self.id = id
            self.memory = memory
        }

        /// What `memory` mentions, itself left out (a row's text that names the row).
        init(_ memory: Memory?, id: String, settings: GraphSettings) {
            self.init(id: id, memory: memory.map { ($0.time, settings.extractor.entities(in: $0.text).filter { $0 != id }) })
        }
    }

    /// Looks at every memory again (the settings changed, or the change log was trimmed past
    /// the consumer): memories are read as of one moment, and the watermark moves to it.
    private static func rebuild(_ store: MemoryStore, settings: GraphSettings) throws {
        let upTo = store.lastChange
        var found: [String: Found] = [:]
        if !settings.extractor.isEmpty {
            try store.export(includeVectors: false) { memory in
                found[memory.id] = Found(memory, id: memory.id, settings: settings)
            }
        }
        try store.scan(family, prefix: []) { key, _ in
            let id = String(decoding: key, as: UTF8.self)
            if !key.isEmpty && found[id] == nil { found[id] = Found(id: id, memory: nil) }
            return true
        }
        let all = found.values.sorted { $0.id < $1.id }
        for start in stride(from: 0, to: all.count, by: batch) {
            let chunk = all[start..<min(start + batch, all.count)]
            try store.write { tx in try apply(chunk, tx) }
        }
        try store.write { tx in
            if settings.extractor.isEmpty {
                try tx.delete(family, key: [])
            } else {
                try tx.put(family, key: [], value: Array(settings.fingerprint.utf8))
            }
            try tx.advanceWatermark(consumer, to: upTo)
        }
    }

    /// Makes the graph hold what `found` says each memory mentions.
    private static func apply(_ found: some Collection<Found>, _ tx: StoreTransaction) throws {
        var graph = GraphWrite(tx: tx)
        for f in found {
            let key = Array(f.id.utf8)
            let old = try tx.get(family, key: key).map { try JSONDecoder().decode([String].self, from: Data($0)) } ?? []
            let new = f.memory?.entities ?? []
            guard old != new else { continue }
            let time = f.memory?.time ?? tx.now
            try graph.update(f.id, targets: new.map { (mentions, $0) }, relations: [mentions], at: time)
            let before = pairs(old), after = pairs(new)
            for p in before.subtracting(after).sorted() {
                try graph.adjust(coOccurs, between: p.a, and: p.b, by: -1, memory: f.id, at: time, maxSupport: maxSupport)
            }
            for p in after.subtracting(before).sorted() {
                try graph.adjust(coOccurs, between: p.a, and: p.b, by: 1, memory: f.id, at: time, maxSupport: maxSupport)
            }
            if new.isEmpty {
                try tx.delete(family, key: key)
            } else {
                try tx.put(family, key: key, value: Array(try JSONEncoder().encode(new)))
            }
        }
    }

    /// Every two distinct entities, the smaller first.
    static func pairs(_ entities: [String]) -> Set<Pair> {
        var out = Set<Pair>()
        for (i, a) in entities.enumerated() {
            for b in entities[(i + 1)...] where a != b { out.insert(a < b ? Pair(a, b) : Pair(b, a)) }
        }
        return out
    }

    struct Pair: Hashable, Comparable {
        let a: String, b: String
        init(_ a: String, _ b: String) { self.a = a; self.b = b }
        static func < (l: Pair, r: Pair) -> Bool { (l.a, l.b) < (r.a, r.b) }
    }
}
