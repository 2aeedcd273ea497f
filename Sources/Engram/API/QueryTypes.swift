import EngramBase
import EngramStore
import Foundation

/// Which memories a query or a delete may touch; every condition given must hold.
///
/// JSON: `{"namespace"?, "tags"?, "anyTags"?, "where"?: {key: value}, "since"?, "until"?, "asOf"?}`.
public struct FilterRequest: Codable, Sendable, Equatable {
    public var namespace: String?
    /// The memory must carry every one of these tags.
    public var tags: [String]?
    /// The memory must carry at least one of these tags.
    public var anyTags: [String]?
    /// `meta[key] == value` for every entry (numbers compare by value).
    public var `where`: [String: JSONValue]?
    /// Inclusive bounds on the event time.
    public var since: Timestamp?
    public var until: Timestamp?
    /// Only memories that existed at this moment and were still in force then.
    public var asOf: Timestamp?

    public init(namespace: String? = nil, tags: [String]? = nil, anyTags: [String]? = nil,
                where: [String: JSONValue]? = nil, since: Timestamp? = nil, until: Timestamp? = nil,
                asOf: Timestamp? = nil) {
        self.namespace = namespace
        self.tags = tags
        self.anyTags = anyTags
        self.where = `where`
        self.since = since
        self.until = until
        self.asOf = asOf
    }

    /// True when nothing is restricted.
    public var isEmpty: Bool { self == FilterRequest() }

    var storeFilter: MemoryFilter {
        MemoryFilter(namespace: namespace, allTags: tags ?? [], anyTags: anyTags ?? [], metaEquals: `where` ?? [:],
                     since: since?.seconds, until: until?.seconds, asOf: asOf?.seconds)
    }
}

/// Per-query scoring; what is left out takes the database's defaults from engram.toml.
///
/// `score = wSim·similarity + wTime·0.5^(age/halfLife) + wImportance·importance`.
public struct ScoringRequest: Codable, Sendable, Equatable {
    public var wSim: Double?
    public var wTime: Double?
    public var wImportance: Double?
    public var halfLife: TimeSpan?
    public var decay: DecayBasis?

    public init(wSim: Double? = nil, wTime: Double? = nil, wImportance: Double? = nil,
                halfLife: TimeSpan? = nil, decay: DecayBasis? = nil) {
        self.wSim = wSim
        self.wTime = wTime
        self.wImportance = wImportance
        self.halfLife = halfLife
        self.decay = decay
    }

    var storeOptions: ScoringOptions {
        ScoringOptions(wSim: wSim, wTime: wTime, wImportance: wImportance, halfLife: halfLife?.seconds, decay: decay)
    }
}

/// A query: by text (embedded) or by vector, with filters and scoring.
///
/// JSON: `{"text"? | "vector"?, "k"?, "filter"?, "scoring"?, "now"?, "touch"?, "idsOnly"?}`.
public struct QueryRequest: Codable, Sendable, Equatable {
    public var text: String?
    public var vector: [Float]?
    /// How many results (1…`QueryRequest.maxK`; default 10).
    public var k: Int?
    public var filter: FilterRequest?
    public var scoring: ScoringRequest?
    /// Ages and expiry are measured from this moment (default: the clock).
    public var now: Timestamp?
    /// Record the returned memories as accessed at `now` (for access-based decay).
    public var touch: Bool?
    /// Return ids and scores only, reading no records.
    public var idsOnly: Bool?

    /// The largest `k` a query may ask for.
    public static let maxK = 10_000

    public init(text: String? = nil, vector: [Float]? = nil, k: Int? = nil, filter: FilterRequest? = nil,
                scoring: ScoringRequest? = nil, now: Timestamp? = nil, touch: Bool? = nil, idsOnly: Bool? = nil) {
        self.text = text
        self.vector = vector
        self.k = k
        self.filter = filter
        self.scoring = scoring
        self.now = now
        self.touch = touch
        self.idsOnly = idsOnly
    }
}

/// One query result with its score breakdown.
///
/// JSON: `{"id","score","similarity","recency","importance","time"}` plus, unless the query
/// was `idsOnly`, `"text","namespace","tags","meta"`.
public struct QueryHit: Codable, Sendable, Equatable {
    public var id: String
    public var score: Double
    public var similarity: Double
    public var recency: Double
    public var importance: Double
    public var time: Timestamp
    public var text: String?
    public var namespace: String?
    public var tags: [String]?
    public var meta: [String: JSONValue]?

    init(_ r: ScoredMemory) {
        id = r.id
        score = r.score
        similarity = r.similarity
        recency = r.recency
        importance = r.importance
        time = Timestamp(r.time)
        text = r.memory?.text
        namespace = r.memory?.namespace
        tags = r.memory?.tags
        meta = r.memory?.meta
    }
}

/// Query results, best first, and how they were found.
public struct QueryResponse: Codable, Sendable, Equatable {
    public var results: [QueryHit]
    /// Time spent in the store (excluding embedding the query text).
    public var tookMs: Double
    /// How the candidates were found (`exact-scan`, `ann`, `ann+bound(n)`, …).
    public var plan: String
    /// How many memories were scored exactly.
    public var scored: Int
}
