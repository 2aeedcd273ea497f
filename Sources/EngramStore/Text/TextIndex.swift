import EngramBase
import Foundation

/// The full-text index's layout in RocksDB. Every memory version (label) is one document;
/// its postings, its document entry and the collection statistics are written in the same
/// `WriteBatch` as the memory, and removed in the batch that retires it.
///
/// - `text_postings`: `term ‖ 0x00 ‖ label (u64 big-endian)` → `u32 tf, u32 document length`
///   (little-endian). A term's postings are one key range in label order: a query reads
///   exactly the postings of its terms, and each carries what BM25 needs of its document.
/// - `text_documents`: `label (u64 big-endian)` → `u32 length, u32 n, n × (str term, u32 tf)`:
///   what to delete when the memory is replaced or deleted.
/// - the store's state: `text_stats` (`u64 documents, u64 total length`) and
///   `text_analyzer` (the descriptor of the analyser that built the index).
enum TextIndex {
    static let postings = "text_postings"
    static let documents = "text_documents"
    static let families = [postings, documents]

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

    static func postingKey(_ term: String, label: Int64) -> [UInt8] {
        termPrefix(term) + Keys.u64(UInt64(bitPattern: label))
    }

    static func documentKey(_ label: Int64) -> [UInt8] { Keys.u64(UInt64(bitPattern: label)) }

    /// The label of a posting key.
    static func label(ofPosting key: UnsafeRawBufferPointer) -> Int64 {
        Int64(bitPattern: Keys.readU64(UnsafeRawBufferPointer(rebasing: key[(key.count - 8)...])))
    }

    /// `(tf, document length)` of a posting value.
    static func posting(_ value: UnsafeRawBufferPointer) throws -> (tf: UInt32, length: UInt32) {
        guard value.count == 8 else { throw EngramError.corrupt("a text posting has \(value.count) bytes, not 8") }
        return (UInt32(littleEndian: value.loadUnaligned(as: UInt32.self)),
                UInt32(littleEndian: value.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
    }

    static func postingValue(tf: Int, length: Int) -> [UInt8] {
        var w = ByteWriter(capacity: 8)
        w.u32(UInt32(clamping: tf))
        w.u32(UInt32(clamping: length))
        return w.bytes
    }

    /// One analysed document: its length in terms and its distinct terms with their counts.
    struct Document: Equatable {
        var length: Int
        var terms: [(term: String, tf: Int)]

        init(terms list: [String]) {
            length = list.count
            var counts: [String: Int] = [:]
            for t in list { counts[t, default: 0] += 1 }
            terms = counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
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

    /// Stages `document` as the text of `label`.
    static func put(_ document: Document, label: Int64, into batch: WriteBatch) {
        for (term, tf) in document.terms {
            batch.put(postings, postingKey(term, label: label), postingValue(tf: tf, length: document.length))
        }
        batch.put(documents, documentKey(label), document.encoded())
    }

    /// Stages the removal of `document`, the text of `label`.
    static func remove(_ document: Document, label: Int64, from batch: WriteBatch) {
        for (term, _) in document.terms { batch.delete(postings, postingKey(term, label: label)) }
        batch.delete(documents, documentKey(label))
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

    mutating func run(db: RocksDB, stats: TextStats) throws {
        var found = Set<Int64>()
        try db.scan(TextIndex.documents) { key, value in
            guard key.count == 8 else {
                problems.append("a text document key has \(key.count) bytes")
                return true
            }
            let label = Int64(bitPattern: Keys.readU64(key))
            found.insert(label)
            guard let want = expected[label] else {
                problems.append("text document of \(name(label)), which is not a live memory")
                return true
            }
            if try TextIndex.Document.decode(value) != want { problems.append("the text document of \(name(label)) is not its text's analysis") }
            return true
        }
        for label in expected.keys where !found.contains(label) { problems.append("\(name(label)) has no text document") }
        var want = 0
        var length: UInt64 = 0
        for document in expected.values {
            want += document.terms.count
            length += UInt64(document.length)
        }
        var tfs: [Int64: [String: Int]] = [:]
        try db.scan(TextIndex.postings) { key, value in
            postings += 1
            guard key.count > 9, key[key.count - 9] == 0 else {
                problems.append("a posting key is malformed")
                return true
            }
            let label = TextIndex.label(ofPosting: key)
            let term = String(decoding: UnsafeRawBufferPointer(rebasing: key[..<(key.count - 9)]), as: UTF8.self)
            let (tf, documentLength) = try TextIndex.posting(value)
            guard let document = expected[label] else {
                problems.append("posting of '\(term)' for \(name(label)), which is not a live memory")
                return true
            }
            if tfs[label] == nil { tfs[label] = Dictionary(uniqueKeysWithValues: document.terms.map { ($0.term, $0.tf) }) }
            if tfs[label]?[term] != Int(tf) || Int(documentLength) != document.length {
                problems.append("posting of '\(term)' for \(name(label)) disagrees with its text (tf \(tf), length \(documentLength))")
            }
            return true
        }
        if postings != want { problems.append("\(postings) postings where the texts make \(want)") }
        if stats.documents != UInt64(expected.count) || stats.length != length {
            problems.append("text statistics say \(stats.documents) documents of total length \(stats.length); the texts make \(expected.count) of \(length)")
        }
    }
}
