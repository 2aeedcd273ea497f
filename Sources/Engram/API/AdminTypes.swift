import EngramStore
import Foundation

/// Memories to insert or replace in one atomic write.
public struct UpsertRequest: Codable, Sendable, Equatable {
    public var memories: [MemoryInput]
    /// Override the database's `sync` setting for this write.
    public var sync: Bool?
    public init(memories: [MemoryInput], sync: Bool? = nil) {
        self.memories = memories
        self.sync = sync
    }
}

public struct UpsertResponse: Codable, Sendable, Equatable {
    /// The ids written, in request order (generated where the request had none).
    public var ids: [String]
}

public struct GetRequest: Codable, Sendable, Equatable {
    public var id: String
    public var includeVector: Bool?
    public init(id: String, includeVector: Bool? = nil) {
        self.id = id
        self.includeVector = includeVector
    }
}

/// Deletes by ids, or every memory matching a filter (which must be confirmed with `all`).
public struct DeleteRequest: Codable, Sendable, Equatable {
    public var ids: [String]?
    public var filter: FilterRequest?
    /// Confirms deleting by filter (or everything, with no filter).
    public var all: Bool?
    /// Unknown ids are skipped instead of failing the whole delete.
    public var ignoreMissing: Bool?
    public init(ids: [String]? = nil, filter: FilterRequest? = nil, all: Bool? = nil, ignoreMissing: Bool? = nil) {
        self.ids = ids
        self.filter = filter
        self.all = all
        self.ignoreMissing = ignoreMissing
    }
}

public struct DeleteResponse: Codable, Sendable, Equatable {
    public var deleted: Int
}

/// Counts, index state and disk use.
public struct StatsResponse: Codable, Sendable, Equatable {
    public struct Index: Codable, Sendable, Equatable {
        public var kind: String
        public var setting: String
        public var entries: Int
        public var ivfLists: Int
        public var tombstones: Int
    }
    public var memories: Int
    /// Labels in use, live or dead (see `StoreStats.labels`).
    public var labels: Int
    public var namespaces: [String: Int]
    public var dimension: Int
    public var index: Index
    public var changesSinceSnapshot: UInt64
    public var diskBytes: Int64
    public var embedder: String
    /// The full-text index: documents, total terms, bytes in RocksDB.
    public var text: Text

    public struct Text: Codable, Sendable, Equatable {
        public var documents: UInt64
        public var terms: UInt64
        public var bytes: Int64
        /// Document changes not yet merged into the postings blocks.
        public var pending: Int
    }

    init(_ s: StoreStats) {
        memories = s.memories
        labels = s.labels
        namespaces = s.namespaces
        dimension = s.dimension
        index = Index(kind: s.indexKind, setting: s.indexSetting, entries: s.indexEntries, ivfLists: s.ivfLists,
                      tombstones: s.tombstones)
        changesSinceSnapshot = s.changesSinceSnapshot
        diskBytes = s.diskBytes
        embedder = s.embedder
        text = Text(documents: s.textDocuments, terms: s.textTerms, bytes: s.textIndexBytes, pending: s.textPending)
    }
}

/// What `check` found; `ok` when the live ids in RocksDB and the searchable ids in the
/// index are the same set and every record is consistent.
public struct CheckResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public var liveInStore: Int
    public var searchableInIndex: Int
    public var missingFromIndex: [String]
    public var unknownInIndex: [Int64]
    public var duplicatesInIndex: [Int64]
    public var inconsistentRecords: [String]
    /// Memories whose quantized codes are not those of their vector.
    public var mismatchedCodes: [String]
    public var tombstones: Int
    /// Postings in the full-text index.
    public var textPostings: Int
    /// Where the full-text index disagrees with the records.
    public var textProblems: [String]

    init(_ r: CheckReport) {
        ok = r.ok
        liveInStore = r.liveInStore
        searchableInIndex = r.searchableInIndex
        missingFromIndex = r.missingFromIndex
        unknownInIndex = r.unknownInIndex
        duplicatesInIndex = r.duplicatesInIndex
        inconsistentRecords = r.inconsistentRecords
        mismatchedCodes = r.mismatchedCodes
        tombstones = r.tombstones
        textPostings = r.textPostings
        textProblems = r.textProblems
    }
}

public struct CompactResponse: Codable, Sendable, Equatable {
    public var memories: Int
    public var index: String
    public var entriesBefore: Int
    public var entriesAfter: Int
    public var seconds: Double
}

/// The JSON encoding every Engram front end uses (keys sorted, slashes not escaped), so that
/// the CLI, the socket API and the clients print the same bytes for the same value.
public enum EngramJSON {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .throw
        return e
    }

    /// `value` as one line of JSON (no trailing newline).
    public static func encode<T: Encodable>(_ value: T) throws -> Data { try encoder().encode(value) }
}

/// `Health/Check`'s answer. JSON: `{"status","model"?,"modelLoadedAt"?}`: `SERVING` (or
/// `SHUTTING_DOWN`, to `Admin/Shutdown`), and once a model is loaded, the GGUF file `RAG/Ask`
/// answers with and when it was loaded.
public struct HealthResponse: Codable, Sendable, Equatable {
    public var status: String
    public var model: String?
    public var modelLoadedAt: Timestamp?
    public init(status: String, model: String? = nil, modelLoadedAt: Timestamp? = nil) {
        self.status = status
        self.model = model
        self.modelLoadedAt = modelLoadedAt
    }
}

/// `Admin/ReloadModel`'s parameters. JSON: `{"path"?}`: the GGUF file to serve from now on
/// (default: the file serving, read again).
public struct ReloadModelRequest: Codable, Sendable, Equatable {
    public var path: String?
    public init(path: String? = nil) { self.path = path }
}

/// `Admin/ReloadModel`'s answer. JSON: `{"model","previous"?,"loadMs"}`: the file now
/// serving, the one it replaced (none when no question had loaded one), the load's time.
public struct ReloadModelResponse: Codable, Sendable, Equatable {
    public var model: String
    public var previous: String?
    public var loadMs: Double
    public init(model: String, previous: String? = nil, loadMs: Double) {
        self.model = model
        self.previous = previous
        self.loadMs = loadMs
    }
}

/// `Memory/Export`'s parameters. JSON: `{"includeVectors"?}`.
public struct ExportRequest: Codable, Sendable, Equatable {
    public var includeVectors: Bool?
    public init(includeVectors: Bool? = nil) {
        self.includeVectors = includeVectors
    }
}
