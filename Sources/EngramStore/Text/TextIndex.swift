import EngramBase
import Foundation

/// The full-text index's layout in RocksDB. Every memory version (label) is one document;
/// its postings, its document entry and the collection statistics are written in the same
/// `WriteBatch` as the memory, and removed in the batch that retires it.
///
/// - `text_postings`: `term ‖ 0x00 ‖ block (u32 big-endian)` → the term's postings for the
///   labels `block·blockSize ..< (block+1)·blockSize`, in label order: `varint n`, then per
///   posting `varint label offset (from the previous one, the first from the block's start),
///   varint tf, varint document length`. A query reads exactly its terms' key ranges, one
///   RocksDB entry per block rather than per posting; a write rewrites the blocks of the
///   terms it touches (`PostingEditor`), so the postings are always exact: a label that is
///   retired and later reused never finds its earlier postings.
/// - `text_documents`: `label (u64 big-endian)` → `u32 length, u32 n, n × (str term, u32 tf)`:
///   what to remove when the memory is replaced or deleted. A memory whose document has no
///   terms (vectors only, or only stop words) has no entry and no postings; it is counted
///   in the statistics all the same.
/// - the store's state: `text_stats` (`u64 documents, u64 total length`) and
///   `text_analyzer` (the descriptor of the analyser that built the index).
enum TextIndex {
    static let postings = "text_postings"
    static let documents = "text_documents"
    static let families = [postings, documents, TextSegment.family]

    /// Labels per postings block. A merge rewrites each block its documents touch, so
    /// larger blocks mean fewer writes per memory (a merge of 8,192 new memories writes one
    /// block per distinct term, not one per term and 1,024 of them); smaller ones mean fewer
    /// bytes per rewrite (a term in every memory has a ~25 KB block).
    /// A query reads `labels / blockSize` entries per term. Part of the index's descriptor:
    /// an index built with another size is rebuilt.
    static let blockShift = 13
    static let blockSize = 1 << blockShift

    enum StateKey {
        static let stats: [UInt8] = Array("text_stats".utf8)
        static let analyzer: [UInt8] = Array("text_analyzer".utf8)
    }

    /// The key range of `term`'s postings.
    static func termPrefix(_ term: String) -> [UInt8] {
        var key = Array(term.utf8)
        key.append(0)
        return key
    }

    static func blockKey(_ term: String, block: UInt32) -> [UInt8] {
        var key = termPrefix(term)
        withUnsafeBytes(of: block.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    static func block(of label: Int64) -> UInt32 { UInt32(truncatingIfNeeded: label >> blockShift) }

    static func documentKey(_ label: Int64) -> [UInt8] { Keys.u64(UInt64(bitPattern: label)) }

    /// One posting: a document (label) holding the term `tf` times, and its length.
    struct Posting: Equatable {
        var label: Int64
        var tf: UInt32
        var length: UInt32
    }

    /// Encodes a block's postings (sorted by label, all in `block`).
    static func encode(_ postings: [Posting], block: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1 + postings.count * 4)
        Varint.append(UInt64(postings.count), to: &out)
        var previous = Int64(block) << blockShift
        for p in postings {
            Varint.append(UInt64(p.label - previous), to: &out)
            Varint.append(UInt64(p.tf), to: &out)
            Varint.append(UInt64(p.length), to: &out)
            previous = p.label
        }
        return out
    }

    /// Calls `body(label, tf, length)` for each posting of an encoded block.
    @inline(__always)
    static func decode(_ value: UnsafeRawBufferPointer, block: UInt32,
                       _ body: (Int64, UInt32, UInt32) throws -> Void) throws {
        var r = Varint.Reader(value)
        let n = try r.next()
        guard n <= UInt64(blockSize) else { throw EngramError.corrupt("a postings block holds \(n) postings") }
        var label = Int64(block) << blockShift
        for _ in 0..<n {
            label += Int64(try r.next())
            let tf = try r.next(), length = try r.next()
            try body(label, UInt32(truncatingIfNeeded: tf), UInt32(truncatingIfNeeded: length))
        }
        guard r.atEnd, label < (Int64(block) + 1) << blockShift else { throw EngramError.corrupt("a postings block is malformed") }
    }

    static func decode(_ value: UnsafeRawBufferPointer, block: UInt32) throws -> [Posting] {
        var out: [Posting] = []
        try decode(value, block: block) { out.append(Posting(label: $0, tf: $1, length: $2)) }
        return out
    }

    /// The term and block of a postings key.
    static func parseKey(_ key: UnsafeRawBufferPointer) throws -> (term: String, block: UInt32) {
        guard key.count > 5, key[key.count - 5] == 0 else { throw EngramError.corrupt("a postings key is malformed") }
        let block = UInt32(bigEndian: key.loadUnaligned(fromByteOffset: key.count - 4, as: UInt32.self))
        return (String(decoding: UnsafeRawBufferPointer(rebasing: key[..<(key.count - 5)]), as: UTF8.self), block)
    }

    /// One analysed document: its length in terms and its distinct terms with their counts.
    struct Document: Equatable {
        var length: Int
        var terms: [(term: String, tf: Int)]

        init(terms list: [String]) {
            length = list.count
            // Sorted, then counted by runs (no hashing: documents are short).
            terms = Self.counted(list.sorted().lazy.map { (term: $0, tf: 1) }, capacity: list.count)
        }

        /// The document of the texts of `parts` one after the other (a context window):
        /// equal to `Document(terms:)` of their concatenated terms, without analysing or
        /// sorting each part again.
        init(combining parts: [Document]) {
            if parts.count == 1 {
                self = parts[0]
                return
            }
            length = parts.reduce(0) { $0 + $1.length }
            var all: [(term: String, tf: Int)] = []
            all.reserveCapacity(parts.reduce(0) { $0 + $1.terms.count })
            for part in parts { all.append(contentsOf: part.terms) }
            all.sort { $0.term < $1.term }
            terms = Self.counted(all, capacity: all.count)
        }

        /// The runs of equal terms of `sorted` (in term order), each with its counts summed.
        private static func counted(_ sorted: some Sequence<(term: String, tf: Int)>, capacity: Int) -> [(term: String, tf: Int)] {
            var terms: [(term: String, tf: Int)] = []
            terms.reserveCapacity(capacity)
            for (t, tf) in sorted {
                if let last = terms.last, last.term == t { terms[terms.count - 1].tf += tf } else { terms.append((t, tf)) }
            }
            return terms
        }

        init(length: Int, terms: [(term: String, tf: Int)]) {
            self.length = length
            self.terms = terms
        }

        static func == (a: Document, b: Document) -> Bool {
            a.length == b.length && a.terms.elementsEqual(b.terms) { $0.term == $1.term && $0.tf == $1.tf }
        }

        func encoded() -> [UInt8] {
            var w = ByteWriter(capacity: 8 + terms.reduce(0) { $0 + $1.term.utf8.count + 8 })
            w.u32(UInt32(clamping: length))
            w.u32(UInt32(terms.count))
            for (term, tf) in terms {
                w.string(term)
                w.u32(UInt32(clamping: tf))
            }
            return w.bytes
        }

        static func decode(_ bytes: UnsafeRawBufferPointer) throws -> Document {
            var r = ByteReader(bytes)
            let length = Int(try r.u32())
            let n = Int(try r.u32())
            guard n <= bytes.count else { throw EngramError.corrupt("a text document entry is malformed") }
            var terms: [(term: String, tf: Int)] = []
            terms.reserveCapacity(n)
            for _ in 0..<n { terms.append((try r.string(), Int(try r.u32()))) }
            return Document(length: length, terms: terms)
        }
    }
}

/// The collection statistics BM25 needs, kept with the postings.
struct TextStats: Equatable, Sendable {
    /// Documents indexed (every live memory version).
    var documents: UInt64 = 0
    /// Their total length in terms.
    var length: UInt64 = 0

    var averageLength: Double { documents == 0 ? 0 : Double(length) / Double(documents) }

    mutating func add(_ d: TextIndex.Document) {
        documents += 1
        length += UInt64(d.length)
    }

    mutating func remove(_ d: TextIndex.Document) {
        documents -= min(documents, 1)
        length -= min(length, UInt64(d.length))
    }

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 16)
        w.u64(documents)
        w.u64(length)
        return w.bytes
    }

    init() {}

    init(_ bytes: [UInt8]) throws {
        guard bytes.count == 16 else { throw EngramError.corrupt("the text index statistics have \(bytes.count) bytes, not 16") }
        try bytes.withUnsafeBytes {
            var r = ByteReader($0)
            documents = try r.u64()
            length = try r.u64()
        }
    }
}

/// `MemoryStore.check()`'s verification of the full-text index: every live memory has the
/// document its text analyses to, every posting belongs to such a document, nothing else is
/// indexed, and the statistics are the documents' totals.
struct TextCheck {
    /// The analysed text of every live memory, by label.
    let expected: [Int64: TextIndex.Document]
    let ids: [Int64: String]
    private(set) var postings = 0
    var problems: [String] = []

    /// Problems reported one by one; past this many, the rest are counted.
    static let reportLimit = 20

    init(expected: [Int64: TextIndex.Document], ids: [Int64: String]) {
        self.expected = expected
        self.ids = ids
    }

    var report: [String] {
        problems.count <= Self.reportLimit ? problems
            : Array(problems.prefix(Self.reportLimit)) + ["… and \(problems.count - Self.reportLimit) more text index problems"]
    }

    private func name(_ label: Int64) -> String { ids[label].map { "'\($0)'" } ?? "label \(label)" }

    /// Verifies the blocks and documents in `db` with the `pending` segments not yet merged.
    /// Checks the index as `snapshot` and `pending` have it (taken together under the writer
    /// lock: merges commit outside it, so the live database may move on meanwhile).
    mutating func run(snapshot db: ReadSnapshot, stats: TextStats, pending: PendingText) throws {
        var found = Set<Int64>()
        // A label with pending events: its document is the newest event's (its entry on disk
        // is written or removed by the merge).
        for label in expected.keys where pending.covers(label) {
            found.insert(label)
            let event = pending.lastEvent(of: label)
            let document = event?.added == true ? event!.document : TextIndex.Document(terms: [])
            if document != expected[label]! { problems.append("the pending text document of \(name(label)) is not its text's analysis") }
        }
        try db.scan(TextIndex.documents) { key, value in
            guard key.count == 8 else {
                problems.append("a text document key has \(key.count) bytes")
                return true
            }
            let label = Int64(bitPattern: Keys.readU64(key))
            if pending.covers(label) { return true }
            found.insert(label)
            guard let want = expected[label], !want.terms.isEmpty else {
                problems.append("text document of \(name(label)), which is not a live memory with words")
                return true
            }
            if try TextIndex.Document.decode(value) != want { problems.append("the text document of \(name(label)) is not its text's analysis") }
            return true
        }
        for (label, document) in expected where !document.terms.isEmpty && !found.contains(label) {
            problems.append("\(name(label)) has no text document")
        }
        var want = 0
        var length: UInt64 = 0
        for document in expected.values {
            want += document.terms.count
            length += UInt64(document.length)
        }
        var tfs: [Int64: [String: Int]] = [:]
        // The current postings: the blocks', but for labels the pending segments speak for.
        func visit(_ term: String, _ label: Int64, _ tf: UInt32, _ documentLength: UInt32) {
            postings += 1
            guard let document = expected[label] else {
                problems.append("posting of '\(term)' for \(name(label)), which is not a live memory")
                return
            }
            if tfs[label] == nil { tfs[label] = Dictionary(uniqueKeysWithValues: document.terms.map { ($0.term, $0.tf) }) }
            if tfs[label]?[term] != Int(tf) || Int(documentLength) != document.length {
                problems.append("posting of '\(term)' for \(name(label)) disagrees with its text (tf \(tf), length \(documentLength))")
            }
        }
        try db.scan(TextIndex.postings) { key, value in
            let (term, block) = try TextIndex.parseKey(key)
            try TextIndex.decode(value, block: block) { label, tf, documentLength in
                if !pending.covers(label) { visit(term, label, tf, documentLength) }
            }
            return true
        }
        for term in Set(pending.segments.flatMap(\.terms)) {
            pending.forEachPosting(of: term) { visit(term, $0.label, $0.tf, $0.length) }
        }
        if postings != want { problems.append("\(postings) postings where the texts make \(want)") }
        if stats.documents != UInt64(expected.count) || stats.length != length {
            problems.append("text statistics say \(stats.documents) documents of total length \(stats.length); the texts make \(expected.count) of \(length)")
        }
    }
}
