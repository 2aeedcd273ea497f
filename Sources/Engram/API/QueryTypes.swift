import EngramBase
import EngramStore
import Foundation

/// Which memories a query or a delete may touch; every condition given must hold.
///
/// JSON: `{"namespace"?, "tags"?, "anyTags"?, "where"?: {key: value}, "since"?, "until"?, "asOf"?}`.
public struct FilterRequest: Codable, Sendable, Equatable {
    public var namespace: String?
    /// The memory must be in none of these namespaces.
    public var notNamespaces: [String]?
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
                asOf: Timestamp? = nil, notNamespaces: [String]? = nil) {
        self.namespace = namespace
        self.notNamespaces = notNamespaces
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
                     since: since?.seconds, until: until?.seconds, asOf: asOf?.seconds,
                     excludedNamespaces: notNamespaces ?? [])
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

/// How a text query fuses its vector and text lists; nil fields take `[text]` in engram.toml.
///
/// JSON: `{"method"?: "minmax"|"zscore"|"rrf", "wText"?, "candidates"?}`.
public struct FusionRequest: Codable, Sendable, Equatable {
    public var method: FusionMethod?
    /// The text list's share of the fused relevance, 0…1.
    public var wText: Double?
    /// How many memories each list contributes (at least k), 1…10,000.
    public var candidates: Int?

    public init(method: FusionMethod? = nil, wText: Double? = nil, candidates: Int? = nil) {
        self.method = method
        self.wText = wText
        self.candidates = candidates
    }

    var storeOptions: FusionOptions { FusionOptions(method: method, wText: wText, candidates: candidates) }
}

/// A query: by text and/or by vector, with filters and scoring.
///
/// `mode` (default: `[text] mode` when a text is given, else `vector`): `vector` ranks by the
/// cosine of the text's embedding (or of `vector`), `text` by BM25 over the full-text index
/// (nothing is embedded), `hybrid` by the fusion of both lists. A `vector` given with a
/// `text` is used instead of embedding the text.
///
/// `graphHops` (1…6) makes the knowledge graph take part: the memories linked to the entities
/// the text mentions (`[graph]` names and patterns), within that many hops as of `now`, join
/// the candidates with `[graph] w_graph · 0.5^distance` added to their relevance (distance 0:
/// the memory or its edge touches an entity of the question).
///
/// JSON: `{"text"?, "vector"?, "mode"?, "fusion"?, "k"?, "filter"?, "scoring"?, "now"?, "touch"?,
/// "idsOnly"?, "explain"?, "graphHops"?}`.
public struct QueryRequest: Codable, Sendable, Equatable {
    public var text: String?
    public var vector: [Float]?
    public var mode: RetrievalMode?
    public var fusion: FusionRequest?
    /// Report each result's matched terms with their BM25 contributions.
    public var explain: Bool?
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
    /// Let memories linked by the graph to the entities of `text`, within this many hops, join.
    public var graphHops: Int?

    /// The largest `k` a query may ask for.
    public static let maxK = 10_000

    public init(text: String? = nil, vector: [Float]? = nil, k: Int? = nil, filter: FilterRequest? = nil,
                scoring: ScoringRequest? = nil, now: Timestamp? = nil, touch: Bool? = nil, idsOnly: Bool? = nil,
                mode: RetrievalMode? = nil, fusion: FusionRequest? = nil, explain: Bool? = nil, graphHops: Int? = nil) {
        self.text = text
        self.graphHops = graphHops
        self.vector = vector
        self.mode = mode
        self.fusion = fusion
        self.explain = explain
        self.k = k
        self.filter = filter
        self.scoring = scoring
        self.now = now
        self.touch = touch
        self.idsOnly = idsOnly
    }
}

/// Where a text or hybrid result came from: its rank and score in each candidate list.
public struct HitSources: Codable, Sendable, Equatable {
    /// In the vector list: rank and cosine.
    public var vector: ListEntry?
    /// In the text list: rank and BM25 score.
    public var text: ListEntry?
}

/// One query result with its score breakdown.
///
/// JSON: `{"id","score","similarity","recency","importance","time"}`, plus `"sources"` for text
/// and hybrid queries, `"terms"` with `explain`, `"graph"` for a memory the graph linked, and, unless the query was `idsOnly`,
/// `"text","namespace","tags","meta"`.
public struct QueryHit: Codable, Sendable, Equatable {
    public var id: String
    public var score: Double
    /// The cosine (vector mode) or the fused relevance (text and hybrid modes).
    public var similarity: Double
    public var recency: Double
    public var importance: Double
    public var time: Timestamp
    public var text: String?
    public var namespace: String?
    public var tags: [String]?
    public var meta: [String: JSONValue]?
    public var sources: HitSources?
    /// With `explain`: the query terms this memory matched, with their BM25 contributions.
    public var terms: [TermScore]?
    /// What a metadata boost added to the relevance (text and hybrid modes).
    public var boost: Double?
    /// What the graph's proximity term added to the relevance (`graphHops`).
    public var graph: Double?

    init(_ r: ScoredMemory, mode: RetrievalMode) {
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
        if mode != .vector { sources = HitSources(vector: r.vector, text: r.text) }
        terms = r.terms
        boost = r.boost
        graph = r.linked
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
    /// The retrieval used.
    public var mode: RetrievalMode
    /// The analysed query terms (text and hybrid retrieval).
    public var terms: [String]?
    /// With `graphHops`: the entities found in the query text.
    public var entities: [String]?
}
