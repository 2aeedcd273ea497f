import Foundation

/// Which memories a query (or a delete) may touch. All conditions must hold.
public struct MemoryFilter: Sendable, Equatable {
    public var namespace: String?
    /// The memory must be in none of these namespaces.
    public var excludedNamespaces: [String] = []
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
                asOf: Double? = nil, excludedNamespaces: [String] = []) {
        self.namespace = namespace
        self.excludedNamespaces = excludedNamespaces
        self.allTags = allTags
        self.anyTags = anyTags
        self.metaEquals = metaEquals
        self.since = since
        self.until = until
        self.asOf = asOf
    }

    /// True when the filter restricts more than liveness and expiry.
    var isRestrictive: Bool {
        namespace != nil || !excludedNamespaces.isEmpty || !allTags.isEmpty || !anyTags.isEmpty || !metaEquals.isEmpty
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

/// How a text or hybrid query fuses its lists; nil fields take `[text]` in `engram.toml`.
public struct FusionOptions: Sendable, Equatable {
    public var method: FusionMethod?
    /// The text list's share of the fused relevance, 0…1.
    public var wText: Double?
    /// How many memories each list contributes (at least the query's k), 1…10,000.
    public var candidates: Int?
    public init(method: FusionMethod? = nil, wText: Double? = nil, candidates: Int? = nil) {
        self.method = method
        self.wText = wText
        self.candidates = candidates
    }
}

/// A nearest-memories query.
public struct MemoryQuery: Sendable {
    /// The query vector (may be empty in `text` mode).
    public var vector: [Float]
    /// The query text, searched in the full-text index (`text` and `hybrid` modes).
    public var text: String?
    /// nil: `[text] mode` when a text is given, else `vector`.
    public var mode: RetrievalMode?
    public var fusion: FusionOptions
    /// Report each result's matched terms and their BM25 contributions.
    public var explain: Bool
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
    /// Memories linked to the query (by the knowledge graph), each with a term added to its
    /// relevance (> 0): they join the candidates, so that each scores its relevance plus the
    /// term wherever it ranked. Ids that do not exist, or that the filter excludes, are passed.
    public var linked: [String: Double] = [:]

    public init(vector: [Float], k: Int = 10, filter: MemoryFilter = MemoryFilter(),
                scoring: ScoringOptions = ScoringOptions(), now: Double? = nil, touch: Bool = false,
                fetchRecords: Bool = true, text: String? = nil, mode: RetrievalMode? = nil,
                fusion: FusionOptions = FusionOptions(), explain: Bool = false) {
        self.vector = vector
        self.text = text
        self.mode = mode
        self.fusion = fusion
        self.explain = explain
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
    /// Text and hybrid retrieval: the memory's place in the vector list (cosine), if there.
    public var vector: ListEntry?
    /// Text and hybrid retrieval: its place in the text list (BM25), if there.
    public var text: ListEntry?
    /// With `explain`: the query terms the memory matched, with their BM25 contributions.
    public var terms: [TermScore]?
    /// What a metadata boost (`[text] boost_fields`) added to the relevance, if anything.
    public var boost: Double?
    /// What the query's `linked` term added to the relevance, if anything.
    public var linked: Double?
}

/// A memory's place in one candidate list.
public struct ListEntry: Sendable, Equatable, Codable {
    /// 1-based.
    public var rank: Int
    /// The cosine (vector list) or the BM25 score (text list).
    public var score: Double
}

/// One matched query term and what it added to a memory's BM25 score.
public struct TermScore: Sendable, Equatable, Codable {
    public var term: String
    /// Occurrences in the memory's indexed text.
    public var tf: Int
    public var score: Double
}

/// Query results plus how they were obtained.
public struct QueryResult: Sendable {
    public var results: [ScoredMemory]
    /// How the candidates were found: "exact-scan", "ann", "ann+time" …
    public var plan: String
    /// How many memories were scored exactly.
    public var scored: Int
    /// The retrieval used.
    public var mode: RetrievalMode = .vector
    /// The analysed query terms (text and hybrid retrieval).
    public var terms: [String]? = nil
}
