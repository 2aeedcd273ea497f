import EngramBase
import Foundation

/// The in-memory image of every memory's searchable fields, indexed by internal label.
///
/// Rebuilt from RocksDB on open; updated only after a write batch has been committed.
/// Holds what filters and scores need (never the text), plus the quantized vectors (`codes`),
/// so that scans never touch the disk; full vectors are read from the vector file only to
/// settle a top-k exactly. An update gets a new label and the old one dies; a dead label is
/// reused only once nothing refers to it (see `MemoryStore.takeFreeLabel`).
struct Catalog {
    let dimension: Int
    // The columns, by label: chunked, so that a batch written after a view was published
    // copies a few chunks, not the columns (see `ChunkedColumn`).
    private(set) var ids = ChunkedColumn<String?>()
    private(set) var namespaces = ChunkedColumn<Int32>()
    private(set) var times = ChunkedColumn<Double>()
    /// `lastAccessedAt ?? time`: the basis of access-based decay.
    private(set) var accessed = ChunkedColumn<Double>()
    private(set) var createdAt = ChunkedColumn<Double>()
    private(set) var importance = ChunkedColumn<Float>()
    private(set) var endOfLife = ChunkedColumn<Double>()
    private(set) var tags = ChunkedColumn<[Int32]>()
    private(set) var meta = ChunkedColumn<[String: JSONValue]>()
    /// The quantized vectors by label.
    var codes: Codes
    /// Bit `label` is set while the label is live.
    private(set) var liveBits: [UInt8] = []
    /// Id → live label; built on first need by a writer (`ensureIdIndex`): readers and
    /// opens do without it.
    private(set) var idToLabel: [String: Int64]?
    private(set) var liveCount = 0
    /// Upper bound on any live memory's importance.
    private(set) var maxImportance: Float = 0
    /// Live memories with an expiry or end of validity.
    private(set) var expiringCount = 0
    /// Labels carrying each tag (indexed by tag id), ascending; may hold dead labels, which
    /// readers skip and `compactIndexes` drops.
    private(set) var tagPostings: [[Int64]] = []
    /// Live labels (and some dead ones) ordered by event time, then label: the order in which
    /// time-decayed queries visit recent memories.
    private(set) var timeOrder: [Int64] = []
    /// Dead labels still in `timeOrder` and the postings.
    private(set) var deadInIndexes = 0
    /// Tags whose postings took a reused label out of order (see `sortPostings`).
    private var unsortedPostings: Set<Int32> = []
    private var namespaceIds: [String: Int32] = [:]
    private(set) var namespaceNames: [String] = []
    private var tagIds: [String: Int32] = [:]

    init(dimension: Int) {
        self.dimension = dimension
        codes = Codes(quantizer: .uniform(dimension: dimension))
    }

    /// Labels issued so far (live or dead).
    var labelCount: Int { ids.count }

    func isLive(_ label: Int64) -> Bool {
        let l = Int(label)
        return l >= 0 && l < ids.count && liveBits[l >> 3] & (1 << (l & 7)) != 0
    }

    /// This catalog without `idToLabel`, for a view: readers do without it, and a view sharing
    /// the writer's would make the writer's next change copy the whole table.
    var withoutIdIndex: Catalog {
        var c = self
        c.idToLabel = nil
        return c
    }

    /// Builds `idToLabel` if it is not built yet (writers call this before a write).
    mutating func ensureIdIndex() {
        guard idToLabel == nil else { return }
        var index: [String: Int64] = [:]
        index.reserveCapacity(liveCount)
        for l in 0..<ids.count where liveBits[l >> 3] & (1 << (l & 7)) != 0 {
            if let id = ids[l] { index[id] = Int64(l) }
        }
        idToLabel = index
    }

    func namespaceId(_ name: String) -> Int32? { namespaceIds[name] }
    func tagId(_ name: String) -> Int32? { tagIds[name] }

    /// Makes room for labels up to `count - 1`.
    mutating func reserveLabels(_ count: Int) {
        guard count > ids.count else { return }
        let extra = count - ids.count
        ids.append(repeating: nil, count: extra)
        namespaces.append(repeating: -1, count: extra)
        times.append(repeating: 0, count: extra)
        accessed.append(repeating: 0, count: extra)
        createdAt.append(repeating: 0, count: extra)
        importance.append(repeating: 0, count: extra)
        endOfLife.append(repeating: .infinity, count: extra)
        tags.append(repeating: [], count: extra)
        meta.append(repeating: [:], count: extra)
        codes.reserve(count)
        let bytes = (count + 7) / 8
        if liveBits.count < bytes { liveBits.append(contentsOf: repeatElement(0, count: bytes - liveBits.count)) }
    }

    /// Records `memory` as live under `label` (which must not be live).
    mutating func insert(_ memory: Memory, label: Int64) {
        let l = Int(label)
        reserveLabels(l + 1)
        precondition(!isLive(label), "label \(label) is already live")
        ids[l] = memory.id
        let namespace = Self.intern(memory.namespace, in: &namespaceIds)
        if namespace.added { namespaceNames.append(memory.namespace) }
        namespaces[l] = namespace.id
        times[l] = memory.time
        accessed[l] = memory.lastAccessedAt ?? memory.time
        createdAt[l] = memory.createdAt
        importance[l] = Float(memory.importance)
        endOfLife[l] = memory.endOfLife
        tags[l] = memory.tags.map { Self.intern($0, in: &tagIds).id }.sorted()
        for tag in tags[l] {
            if Int(tag) >= tagPostings.count { tagPostings.append(contentsOf: repeatElement([], count: Int(tag) + 1 - tagPostings.count)) }
            if let last = tagPostings[Int(tag)].last, last > label { unsortedPostings.insert(tag) }
            tagPostings[Int(tag)].append(label)
        }
        meta[l] = memory.meta
        if memory.vector.count == dimension { memory.vector.withUnsafeBufferPointer { codes.set(label, $0) } }
        liveBits[l >> 3] |= 1 << (l & 7)
        idToLabel?[memory.id] = label
        liveCount += 1
        maxImportance = max(maxImportance, Float(memory.importance))
        if memory.endOfLife.isFinite { expiringCount += 1 }
    }

    /// Marks `label` dead. The id mapping is removed only if it still points at `label`.
    /// The columns keep the dead label's values: readers skip dead labels, `insert`
    /// overwrites every column when the label is reused, and snapshots write them empty. So a
    /// batch of updates and deletes scattered over the labels copies no column chunk that a
    /// published view shares (clearing the id, tags and metadata of each copied their chunks
    /// of 4,096 values, retaining every value in them).
    mutating func remove(label: Int64) {
        guard isLive(label) else { return }
        let l = Int(label)
        liveBits[l >> 3] &= ~(1 << (l & 7))
        if let id = ids[l], idToLabel?[id] == label { idToLabel?[id] = nil }
        liveCount -= 1
        if endOfLife[l].isFinite { expiringCount -= 1 }
        deadInIndexes += 1
    }

    /// Puts back in order the postings that reused labels were appended to (after a batch).
    mutating func sortPostings() {
        for tag in unsortedPostings { tagPostings[Int(tag)].sort() }
        unsortedPostings.removeAll()
    }

    /// Dead labels, smallest last.
    func deadLabels() -> [Int64] {
        (0..<Int64(labelCount)).reversed().filter { !isLive($0) }
    }

    /// Sorts the postings and the time order after a bulk load (records arrive in id order,
    /// not label order) and drops dead labels from them.
    mutating func compactIndexes() {
        for t in tagPostings.indices {
            tagPostings[t] = tagPostings[t].filter { isLive($0) }.sorted()
        }
        timeOrder = liveLabels()
        let times = self.times
        timeOrder.sort { times[Int($0)] != times[Int($1)] ? times[Int($0)] < times[Int($1)] : $0 < $1 }
        deadInIndexes = 0
        unsortedPostings.removeAll()
    }

    /// Drops dead labels from the postings and the time order, keeping their order (after a
    /// rebuild, so that the labels it freed are referred to from nowhere).
    mutating func dropDeadFromIndexes() {
        sortPostings()
        let live = self.liveBits
        let isLive = { (l: Int64) in live[Int(l) >> 3] & (1 << (Int(l) & 7)) != 0 }
        for t in tagPostings.indices { tagPostings[t].removeAll { !isLive($0) } }
        timeOrder.removeAll { !isLive($0) }
        deadInIndexes = 0
    }

    /// Adds newly inserted live labels (ascending, all above the labels already indexed) to
    /// the time order, and compacts the indexes once dead labels are a third of them.
    mutating func indexInserted(_ labels: [Int64]) {
        if deadInIndexes > 1024 && deadInIndexes * 3 > timeOrder.count {
            compactIndexes()
            return
        }
        guard !labels.isEmpty else { return }
        let times = self.times
        let before: (Int64, Int64) -> Bool = { times[Int($0)] != times[Int($1)] ? times[Int($0)] < times[Int($1)] : $0 < $1 }
        let added = labels.sorted(by: before)
        // Merge: one pass over the existing order.
        var merged: [Int64] = []
        merged.reserveCapacity(timeOrder.count + added.count)
        var i = 0, j = 0
        while i < timeOrder.count && j < added.count {
            if before(added[j], timeOrder[i]) { merged.append(added[j]); j += 1 } else { merged.append(timeOrder[i]); i += 1 }
        }
        merged.append(contentsOf: timeOrder[i...])
        merged.append(contentsOf: added[j...])
        timeOrder = merged
    }

    /// Encodes the vectors of `labels` from `source`.
    mutating func encode(_ labels: [Int64], from source: VectorSource) throws {
        let d = dimension
        for start in stride(from: 0, to: labels.count, by: 4096) {
            let part = labels[start..<min(start + 4096, labels.count)]
            let rows = try source.rows(part)
            rows.withUnsafeBufferPointer { buffer in
                for (i, label) in part.enumerated() { codes.set(label, UnsafeBufferPointer(rebasing: buffer[i * d..<(i + 1) * d])) }
            }
        }
    }

    mutating func setAccessed(label: Int64, at time: Double) {
        if isLive(label) { accessed[Int(label)] = time }
    }

    /// Every live label, ascending.
    func liveLabels() -> [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(liveCount)
        for l in 0..<ids.count where liveBits[l >> 3] & (1 << (l & 7)) != 0 { out.append(Int64(l)) }
        return out
    }

    /// The id of `name` in `table`: the one it has, or the next (the table's size), `added`.
    private static func intern(_ name: String, in table: inout [String: Int32]) -> (id: Int32, added: Bool) {
        if let id = table[name] { return (id, false) }
        let id = Int32(table.count)
        table[name] = id
        return (id, true)
    }
}

/// A filter compiled against a catalog: interned ids instead of strings.
struct CompiledFilter {
    let namespace: Int32?
    /// Interned ids of the excluded namespaces the catalog knows (others exclude nothing).
    let excludedNamespaces: [Int32]
    let allTags: [Int32]
    let anyTags: [Int32]
    let metaEquals: [(String, JSONValue)]
    let since: Double
    let until: Double
    let asOf: Double?
    /// Memories must still be in force at this moment.
    let inForceAt: Double
    /// The filter can match nothing (an unknown namespace or required tag).
    let matchesNothing: Bool
    /// Anything beyond "live" must be checked per memory.
    let needsCheck: Bool

    init(_ filter: MemoryFilter, catalog: Catalog, now: Double) {
        var nothing = false
        if let ns = filter.namespace {
            if let id = catalog.namespaceId(ns) { namespace = id } else { namespace = -2; nothing = true }
        } else { namespace = nil }
        excludedNamespaces = filter.excludedNamespaces.compactMap { catalog.namespaceId($0) }
        var all: [Int32] = []
        for t in filter.allTags {
            if let id = catalog.tagId(t) { all.append(id) } else { nothing = true }
        }
        allTags = all.sorted()
        anyTags = filter.anyTags.compactMap { catalog.tagId($0) }
        if !filter.anyTags.isEmpty && anyTags.isEmpty { nothing = true }
        metaEquals = filter.metaEquals.sorted { $0.key < $1.key }
        since = filter.since ?? -.infinity
        until = filter.until ?? .infinity
        asOf = filter.asOf
        inForceAt = filter.asOf ?? now
        matchesNothing = nothing
        needsCheck = filter.isRestrictive || catalog.expiringCount > 0
    }

    /// Whether live `label` passes the filter. With `tagsChecked`, the caller found `label`
    /// in the postings of the filter's only tag condition, which is then not checked again.
    func matches(_ label: Int, in c: borrowing Catalog, tagsChecked: Bool = false) -> Bool {
        if let ns = namespace, c.namespaces[label] != ns { return false }
        if !excludedNamespaces.isEmpty && excludedNamespaces.contains(c.namespaces[label]) { return false }
        let t = c.times[label]
        if t < since || t > until { return false }
        if let asOf, t > asOf { return false }
        if c.endOfLife[label] <= inForceAt { return false }
        if tagsChecked { return metaEquals.isEmpty || matchesMeta(label, in: c) }
        if !allTags.isEmpty {
            let have = c.tags[label]
            for tag in allTags where !have.contains(tag) { return false }
        }
        if !anyTags.isEmpty {
            let have = c.tags[label]
            if !anyTags.contains(where: { have.contains($0) }) { return false }
        }
        return metaEquals.isEmpty || matchesMeta(label, in: c)
    }

    private func matchesMeta(_ label: Int, in c: borrowing Catalog) -> Bool {
        let m = c.meta[label]
        for (key, value) in metaEquals where !Self.metaEqual(m[key], value) { return false }
        return true
    }

    /// JSON equality with numbers compared by value (`1` equals `1.0`).
    private static func metaEqual(_ a: JSONValue?, _ b: JSONValue) -> Bool {
        guard let a else { return false }
        return a == b
    }

    /// Live labels passing the filter, ascending.
    func matchingLabels(in c: Catalog) -> [Int64] {
        if matchesNothing { return [] }
        var out: [Int64] = []
        if let candidates = tagCandidates(in: c) {
            // The postings of a single tag condition already say the label carries it.
            let single = allTags.count + (anyTags.isEmpty ? 0 : 1) == 1
            for label in candidates where c.isLive(label) && matches(Int(label), in: c, tagsChecked: single) {
                out.append(label)
            }
            return out
        }
        c.liveBits.withUnsafeBufferPointer { bits in
            for l in 0..<c.labelCount where bits[l >> 3] & (1 << (l & 7)) != 0 {
                if !needsCheck || matches(l, in: c) { out.append(Int64(l)) }
            }
        }
        return out
    }

    /// When the filter names tags: the labels carrying them (ascending, a superset of the
    /// matches), from the shortest posting list of a required tag or the union of the
    /// any-of tags' postings. Nil when the filter names no tag.
    func tagCandidates(in c: Catalog) -> [Int64]? {
        func postings(_ tag: Int32) -> [Int64] { Int(tag) < c.tagPostings.count ? c.tagPostings[Int(tag)] : [] }
        if let shortest = allTags.map(postings).min(by: { $0.count < $1.count }) { return shortest }
        guard !anyTags.isEmpty else { return nil }
        if anyTags.count == 1 { return postings(anyTags[0]) }
        return Array(Set(anyTags.flatMap(postings))).sorted()
    }
}

// MARK: Persistence

extension Catalog {
    /// Appends the columns to an index snapshot, so that an open can load them instead of
    /// decoding every record: liveness, times, importance, expiry, namespace, tags, ids, meta
    /// (as JSON text), the namespace and tag tables, and the time order. Column by column,
    /// so that reading them back is mostly bulk copies. `flush` is called after each column
    /// (and every `flushEvery` strings) to take what `w` holds, so that the buffer stays small.
    func writeColumns(to w: inout ByteWriter, flush: (inout ByteWriter) throws -> Void) rethrows {
        let n = labelCount
        w.u64(UInt64(n))
        w.raw(liveBits.prefix((n + 7) / 8))
        try flush(&w)
        for column in [times, accessed, createdAt, endOfLife] {
            column.forEachChunk { w.raw(UnsafeRawBufferPointer($0)) }
            try flush(&w)
        }
        importance.forEachChunk { w.raw(UnsafeRawBufferPointer($0)) }
        namespaces.forEachChunk { w.raw(UnsafeRawBufferPointer($0)) }
        try flush(&w)
        // Dead labels' tags, ids and metadata (which `remove` leaves in the columns) are
        // written empty: nothing of a deleted memory outlives it in a snapshot.
        var tagOffsets: [UInt32] = [0], tagValues: [Int32] = []
        for l in 0..<n {
            if isLive(Int64(l)) { tagValues.append(contentsOf: tags[l]) }
            tagOffsets.append(UInt32(tagValues.count))
        }
        tagOffsets.withUnsafeBytes { w.raw($0) }
        w.u64(UInt64(tagValues.count))
        tagValues.withUnsafeBytes { w.raw($0) }
        try flush(&w)
        for l in 0..<n {
            w.string(isLive(Int64(l)) ? ids[l] ?? "" : "")
            if l % Self.flushEvery == Self.flushEvery - 1 { try flush(&w) }
        }
        for l in 0..<n {
            // The text of `RecordCodec.encodeMeta`, written in place (the closure captures only
            // the metadata: capturing `self` copied the catalog's columns for every label).
            let members = isLive(Int64(l)) ? meta[l] : [:]
            w.string { out in
                if !members.isEmpty { JSONValue.object(members).write(to: &out) }
            }
            if l % Self.flushEvery == Self.flushEvery - 1 { try flush(&w) }
        }
        w.u32(UInt32(namespaceNames.count))
        namespaceNames.forEach { w.string($0) }
        let tagNames = tagIds.sorted { $0.value < $1.value }.map(\.key)
        w.u32(UInt32(tagNames.count))
        tagNames.forEach { w.string($0) }
        w.u64(UInt64(timeOrder.count))
        timeOrder.withUnsafeBytes { w.raw($0) }
        try flush(&w)
    }

    /// Labels whose strings `writeColumns` buffers before flushing them.
    private static let flushEvery = 16_384

    /// Reads the columns written by `writeColumns` (the codes come separately).
    static func readColumns(_ r: inout ByteReader, dimension: Int, codes: Codes) throws -> Catalog {
        var c = Catalog(dimension: dimension)
        c.codes = codes
        let n = Int(try r.u64())
        guard n <= 1 << 40 else { throw EngramError.corrupt("bad label count") }
        c.reserveLabels(n)
        let bits = try r.raw((n + 7) / 8)
        c.liveBits.withUnsafeMutableBytes { $0.copyMemory(from: bits) }
        func bulk<T>(_ column: inout ChunkedColumn<T>) throws {
            let raw = try r.raw(n * MemoryLayout<T>.stride)
            var at = 0
            column.forEachMutableChunk { chunk in
                let bytes = UnsafeMutableRawBufferPointer(chunk)
                bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[at..<(at + bytes.count)]))
                at += bytes.count
            }
        }
        try bulk(&c.times)
        try bulk(&c.accessed)
        try bulk(&c.createdAt)
        try bulk(&c.endOfLife)
        try bulk(&c.importance)
        try bulk(&c.namespaces)
        let tagOffsets = try r.raw((n + 1) * 4)
        let tagCount = Int(try r.u64())
        guard tagCount <= 1 << 40 else { throw EngramError.corrupt("bad tag count") }
        let tagValues = try r.raw(tagCount * 4)
        for l in 0..<n {
            let from = Int(tagOffsets.loadUnaligned(fromByteOffset: l * 4, as: UInt32.self))
            let to = Int(tagOffsets.loadUnaligned(fromByteOffset: (l + 1) * 4, as: UInt32.self))
            guard from <= to, to <= tagCount else { throw EngramError.corrupt("bad tag offsets") }
            if to > from { c.tags[l] = (from..<to).map { tagValues.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) } }
        }
        for l in 0..<n {
            let id = try r.string()
            if c.isLive(Int64(l)) { c.ids[l] = id }
        }
        let parser = try RecordCodec.metaParser()
        for l in 0..<n {
            let meta = try r.string()
            if !meta.isEmpty && c.isLive(Int64(l)) { c.meta[l] = try RecordCodec.decodeMeta(meta, parser: parser) }
        }
        for l in 0..<n where c.isLive(Int64(l)) {
            c.liveCount += 1
            c.maxImportance = max(c.maxImportance, c.importance[l])
            if c.endOfLife[l].isFinite { c.expiringCount += 1 }
            for tag in c.tags[l] {
                if Int(tag) >= c.tagPostings.count { c.tagPostings.append(contentsOf: repeatElement([], count: Int(tag) + 1 - c.tagPostings.count)) }
                c.tagPostings[Int(tag)].append(Int64(l))
            }
        }
        c.namespaceNames = try (0..<Int(try r.u32())).map { _ in try r.string() }
        for (i, name) in c.namespaceNames.enumerated() { c.namespaceIds[name] = Int32(i) }
        let tagNames = try (0..<Int(try r.u32())).map { _ in try r.string() }
        for (i, name) in tagNames.enumerated() { c.tagIds[name] = Int32(i) }
        let order = Int(try r.u64())
        guard order <= n else { throw EngramError.corrupt("bad time order") }
        c.timeOrder = try r.int64s(order)
        guard c.timeOrder.allSatisfy({ $0 >= 0 && $0 < n }) else { throw EngramError.corrupt("time order out of range") }
        c.deadInIndexes = order - c.liveCount
        return c
    }
}
