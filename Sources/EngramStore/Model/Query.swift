import Foundation

/// Which memories a query (or a delete) may touch. All conditions must hold.
public struct MemoryFilter: Sendable, Equatable {
    public var namespace: String?
    /// The memory must carry every one of these tags.
    public var allTags: [String] = []
    /// The memory must carry at least one of these tags (ignored when empty).
    public var anyTags: [String] = []
    /// `meta[key] == value` for every entry.
    public var metaEquals: [String: JSONValue] = [:]
    /// Inclusive bounds on the event time.
    public var since: Double?
    public var until: Double?
    /// Only memories whose time ≤ asOf and which were still in force at asOf.
    public var asOf: Double?

    public init(namespace: String? = nil, allTags: [String] = [], anyTags: [String] = [],
                metaEquals: [String: JSONValue] = [:], since: Double? = nil, until: Double? = nil,
                asOf: Double? = nil) {
        self.namespace = namespace
        self.allTags = allTags
        self.anyTags = anyTags
        self.metaEquals = metaEquals
        self.since = since
        self.until = until
        self.asOf = asOf
    }

    /// True when the filter restricts more than liveness and expiry.
    var isRestrictive: Bool {
        namespace != nil || !allTags.isEmpty || !anyTags.isEmpty || !metaEquals.isEmpty
            || since != nil || until != nil || asOf != nil
    }
}

/// Scoring options; nil fields take the database defaults from `engram.toml`.
public struct ScoringOptions: Sendable, Equatable {
    public var wSim: Double?
    public var wTime: Double?
    public var wImportance: Double?
    /// Seconds.
    public var halfLife: Double?
    public var decay: DecayBasis?
    public init(wSim: Double? = nil, wTime: Double? = nil, wImportance: Double? = nil,
                halfLife: Double? = nil, decay: DecayBasis? = nil) {
        self.wSim = wSim
        self.wTime = wTime
        self.wImportance = wImportance
        self.halfLife = halfLife
        self.decay = decay
    }
}

/// A nearest-memories query.
public struct MemoryQuery: Sendable {
    public var vector: [Float]
    public var k: Int
    public var filter: MemoryFilter
    public var scoring: ScoringOptions
    /// The "now" that ages and expiry are measured from (default: the wall clock), so that
    /// results can be reproduced.
    public var now: Double?
    /// Set `lastAccessedAt = now` on the memories returned.
    public var touch: Bool
    /// Read the whole record of each result (false: ids and scores only, no record reads).
    public var fetchRecords: Bool

    public init(vector: [Float], k: Int = 10, filter: MemoryFilter = MemoryFilter(),
                scoring: ScoringOptions = ScoringOptions(), now: Double? = nil, touch: Bool = false,
                fetchRecords: Bool = true) {
        self.vector = vector
        self.k = k
        self.filter = filter
        self.scoring = scoring
        self.now = now
        self.touch = touch
        self.fetchRecords = fetchRecords
    }
}

/// One result with its score breakdown: `score = wSim·similarity + wTime·recency + wImp·importance`.
public struct ScoredMemory: Sendable {
    public var id: String
    /// The memory's event time.
    public var time: Double
    public var score: Double
    /// Cosine similarity to the query vector.
    public var similarity: Double
    /// `0.5^(age / halfLife)`, age clamped at 0.
    public var recency: Double
    public var importance: Double
    /// The whole record; nil when the query asked for ids and scores only.
    public var memory: Memory?
}

/// Query results plus how they were obtained.
public struct QueryResult: Sendable {
    public var results: [ScoredMemory]
    /// How the candidates were found: "exact-scan", "ann", "ann+time" …
    public var plan: String
    /// How many memories were scored exactly.
    public var scored: Int
}
