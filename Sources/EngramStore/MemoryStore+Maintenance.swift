import EngramBase
import Foundation

/// Counts and sizes reported by `MemoryStore.stats()`.
public struct StoreStats: Sendable {
    public var memories: Int
    /// Labels in use, live or dead (a label's columns and codes take memory until a rebuild
    /// frees it for reuse).
    public var labels: Int
    public var namespaces: [String: Int]
    public var dimension: Int
    public var indexKind: String
    public var indexSetting: String
    public var indexEntries: Int
    public var ivfLists: Int
    public var tombstones: Int
    public var changesSinceSnapshot: UInt64
    public var diskBytes: Int64
    public var embedder: String
    /// The full-text index: documents, their total length in terms, and its bytes in RocksDB
    /// (postings and document entries, table files and memtables).
    public var textDocuments: UInt64
    public var textTerms: UInt64
    public var textIndexBytes: Int64
    /// Document changes in full-text segments not yet merged into the postings blocks.
    public var textPending: Int
}

/// What `MemoryStore.check()` found. `ok` when the live ids in RocksDB and the searchable
/// ids in the FAISS index are the same set.
public struct CheckReport: Sendable {
    public var liveInStore: Int
    public var searchableInIndex: Int
    /// Live memories the index cannot find.
    public var missingFromIndex: [String]
    /// Index entries that are neither live memories nor known tombstones.
    public var unknownInIndex: [Int64]
    /// Labels present more than once in the index.
    public var duplicatesInIndex: [Int64]
    /// Records whose label or vector is inconsistent, or that disagree with the catalog.
    public var inconsistentRecords: [String]
    /// Memories whose quantized codes in the index are not those of their vector (a damaged
    /// snapshot: `compact` makes the codes anew).
    public var mismatchedCodes: [String]
    /// Dead entries still in an HNSW index (filtered at search time; removed by compact).
    public var tombstones: Int
    /// Postings in the full-text index.
    public var textPostings: Int
    /// Where the full-text index disagrees with the records (at most `TextCheck.reportLimit`
    /// entries, then a count of the rest); `compact` rebuilds it.
    public var textProblems: [String]
    public var ok: Bool {
        missingFromIndex.isEmpty && unknownInIndex.isEmpty && duplicatesInIndex.isEmpty && inconsistentRecords.isEmpty
            && mismatchedCodes.isEmpty && textProblems.isEmpty
    }
}

extension MemoryStore {
    /// The memory with `id`, or `EngramError.notFound`.
    public func get(_ id: String) throws -> Memory {
        guard let memory = try find(id, withVector: true) else { throw EngramError.notFound(id: id) }
        return memory
    }

    /// The memory with `id` (its vector only when `withVector`), or nil when there is none.
    public func find(_ id: String, withVector: Bool) throws -> Memory? {
        try readRecord(id, withVector: withVector, in: currentView())
    }

    /// How many live memories match `filter` (expiry measured at `now`, default the clock).
    public func count(matching filter: MemoryFilter = MemoryFilter(), now: Double? = nil) -> Int {
        let catalog = currentView().catalog
        let compiled = CompiledFilter(filter, catalog: catalog, now: now ?? Date().timeIntervalSince1970)
        if !compiled.needsCheck { return catalog.liveCount }
        return compiled.matchingLabels(in: catalog).count
    }

    public func stats() throws -> StoreStats {
        let view = currentView()
        let catalog = view.catalog, index = view.index
        let db = try view.requireOpen()
        let (pending, bound) = locked { (changeSeq - snapshotSeq, boundEmbedder) }
        do {
            var namespaces: [String: Int] = [:]
            for label in catalog.liveLabels() {
                namespaces[catalog.namespaceNames[Int(catalog.namespaces[Int(label)])], default: 0] += 1
            }
            return StoreStats(memories: catalog.liveCount, labels: catalog.labelCount, namespaces: namespaces, dimension: settings.dimension,
                              indexKind: index.kind.rawValue, indexSetting: settings.index.rawValue,
                              indexEntries: index.isExact ? catalog.liveCount : index.entries,
                              ivfLists: index.nlist, tombstones: index.tombstones,
                              changesSinceSnapshot: pending,
                              diskBytes: directorySize(directory), embedder: bound,
                              textDocuments: view.textStats.documents, textTerms: view.textStats.length,
                              textIndexBytes: TextIndex.families.reduce(0) { $0 + db.familyBytes($1) },
                              textPending: view.pendingText.size)
        }
    }

    /// Visits every memory in id order.
    public func export(includeVectors: Bool = true, _ body: (Memory) throws -> Void) throws {
        let view = currentView()
        let db = try view.requireOpen()
        do {
            let parser = try RecordCodec.metaParser()
            try db.scan(Family.records) { _, value in
                var (memory, label) = try RecordCodec.decode(value, parser: parser)
                if includeVectors && memory.vector.isEmpty {
                    memory.vector = try view.vectors.rows([label][...])
                } else if !includeVectors {
                    memory.vector = []
                }
                try body(memory)
                return true
            }
        }
    }

    /// Rebuilds the index from the live memories (dropping tombstones, retraining IVF for the
    /// current size), saves it as the new snapshot and compacts RocksDB's change log; then
    /// rebuilds the full-text index from the records (writers wait meanwhile).
    public func compact() throws {
        try rebuildAndWait()
        try textMerge.sync { try locked { try rebuildTextIndexLocked(db: try requireWritable()) } }
    }

    /// Verifies that the live ids in RocksDB and the searchable ids in the index are the
    /// same set, and that the full-text index holds exactly the analysed text of every live
    /// memory, reading the records afresh from disk.
    public func check() throws -> CheckReport {
        try locked {
            catalog.ensureIdIndex()
            let db = try requireOpen()
            var live: [Int64: String] = [:]
            var inconsistent: [String] = [], mismatchedCodes: [String] = []
            let rowsOnFile = vectorFile?.rowCapacity ?? 0
            var row = [Float](repeating: 0, count: settings.dimension)
            var documents: [Int64: TextIndex.Document] = [:]
            var ownTerms: [Int64: [String]] = [:]
            let parser = try RecordCodec.metaParser()
            try db.scan(Family.records) { key, value in
                let (memory, label) = try RecordCodec.decode(value, parser: parser)
                if catalog.isLive(label) {
                    let terms = textWriter.terms(memory.text)
                    ownTerms[label] = terms
                    documents[label] = TextIndex.Document(terms: terms)
                }
                let keyId = String(decoding: key, as: UTF8.self)
                var vectorOK = memory.vector.count == settings.dimension
                if memory.vector.isEmpty, let vectorFile, label >= 0, label < rowsOnFile {
                    try row.withUnsafeMutableBufferPointer { try vectorFile.read(label, into: $0.baseAddress!) }
                    vectorOK = Self.isUnitVector(row)
                }
                if vectorOK, catalog.isLive(label) {
                    let vector = memory.vector.isEmpty ? row : memory.vector
                    if !vector.withUnsafeBufferPointer({ catalog.codes.matches(label, $0) }) { mismatchedCodes.append(memory.id) }
                }
                if keyId != memory.id || !vectorOK || label < 0 || label >= nextLabel
                    || live[label] != nil || catalog.idToLabel?[memory.id] != label {
                    inconsistent.append(memory.id)
                }
                live[label] = memory.id
                return true
            }
            if catalog.liveCount != live.count { inconsistent.append("(catalog holds \(catalog.liveCount) memories, RocksDB \(live.count))") }
            var seen = Set<Int64>(), duplicates: [Int64] = [], unknown: [Int64] = []
            var tombstones = 0
            let entries: [Int64]
            switch index.structure {
            case .flat: entries = catalog.liveLabels().filter { Int($0) < catalog.codes.count }
            case let .ivf(lists): entries = lists.lists.flatMap { $0 }
            case let .hnsw(graph): entries = try graph.allLabels()
            }
            for label in entries {
                if !seen.insert(label).inserted { duplicates.append(label); continue }
                if live[label] == nil {
                    // Entries of deleted memories stay in the structure until compact.
                    if label >= 0 && label < nextLabel && !catalog.isLive(label) { tombstones += 1 } else { unknown.append(label) }
                }
            }
            let missing = live.filter { !seen.contains($0.key) }.map(\.value).sorted()
            if settings.text.contextWindow > 0 {
                // Each document is its window's texts, in thread order.
                let threads = ThreadIndex(field: settings.text.threadField, catalog: catalog)
                for label in Array(documents.keys) {
                    let window = threads.key(of: label, in: catalog).map {
                        threads.window(of: threads.entry(of: label, in: catalog), in: $0, size: settings.text.contextWindow)
                    } ?? [label]
                    documents[label] = TextIndex.Document(terms: window.flatMap { ownTerms[$0] ?? [] })
                }
            }
            var text = TextCheck(expected: documents, ids: live)
            if textIndexCurrent {
                try text.run(snapshot: db.snapshot(), stats: textStats, pending: pendingText)
            } else {
                text.problems.append("the full-text index is missing or was built with another analyser (open the database for writing to build it)")
            }
            return CheckReport(liveInStore: live.count, searchableInIndex: seen.count - tombstones - unknown.count,
                               missingFromIndex: missing, unknownInIndex: unknown.sorted(),
                               duplicatesInIndex: duplicates.sorted(), inconsistentRecords: inconsistent,
                               mismatchedCodes: mismatchedCodes.sorted(),
                               tombstones: tombstones, textPostings: text.postings, textProblems: text.report)
        }
    }
}

extension MemoryStore {
    /// Whether a stored vector is finite and of unit length (as every stored vector is).
    static func isUnitVector(_ v: [Float]) -> Bool {
        var sum: Double = 0
        for x in v {
            guard x.isFinite else { return false }
            sum += Double(x) * Double(x)
        }
        return abs(sum - 1) < 1e-3
    }
}

/// Total size of the regular files under `url`.
func directorySize(_ url: URL) -> Int64 {
    guard let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.fileSizeKey]) else { return 0 }
    var total: Int64 = 0
    for case let file as URL in walker {
        total += Int64((try? file.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0)
    }
    return total
}
