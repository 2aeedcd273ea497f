import EngramRAG

/// A question for `ask`: the retrieval options of a query, how the context is chosen, and
/// how the answer is generated. Unset fields take their defaults.
///
/// JSON: `{"question", "k"?, "passages"?, "contextTokens"?, "filter"?, "scoring"?, "now"?,
/// "mode"?, "maxTokens"?, "temperature"?, "topP"?, "topK"?, "minP"?, "repeatPenalty"?, "seed"?, "stop"?,
/// "allowNoContext"?, "cache"?, "graphHops"?}`.
public struct AskRequest: Codable, Sendable, Equatable {
    public var question: String
    /// Memories retrieved before near-duplicates are dropped and the passages chosen
    /// (1…`maxK`; default 20).
    public var k: Int?
    /// Passages given to the model at most (default: `[ask] passages`, 5).
    public var passages: Int?
    /// Tokens the passages may take at most (default: `[ask] context_tokens`, 1024; less when
    /// the model's context leaves less beside the prompt and the answer).
    public var contextTokens: Int?
    public var filter: FilterRequest?
    public var scoring: ScoringRequest?
    public var now: Timestamp?
    public var mode: RetrievalMode?
    /// Let memories the graph links to the question's entities join the retrieval (see
    /// `QueryRequest.graphHops`).
    public var graphHops: Int?
    public var maxTokens: Int?
    public var temperature: Float?
    public var topP: Float?
    public var topK: Int?
    public var minP: Float?
    public var repeatPenalty: Float?
    public var seed: UInt64?
    public var stop: [String]?
    /// Answer even when no memory passes the filters.
    public var allowNoContext: Bool?
    /// Reuse the stored answer to the same prompt, and store this one (default true; a
    /// database opened read-only only reuses).
    public var cache: Bool?

    /// The most memories one question may retrieve.
    public static let maxK = 100

    /// The generation fields as one value (unset fields read as `GenerationSettings`'s
    /// defaults; see `generation(over:)`).
    public var generation: GenerationSettings {
        get { generation(over: GenerationSettings()) }
        set {
            maxTokens = newValue.maxTokens
            temperature = newValue.temperature
            topP = newValue.topP
            topK = newValue.topK
            minP = newValue.minP
            repeatPenalty = newValue.repetitionPenalty
            seed = newValue.seed
            stop = newValue.stop
        }
    }

    /// The generation fields set here, over `defaults` for the others.
    public func generation(over defaults: GenerationSettings) -> GenerationSettings {
        var s = defaults
        s.maxTokens = maxTokens ?? s.maxTokens
        s.temperature = temperature ?? s.temperature
        s.topP = topP ?? s.topP
        s.topK = topK ?? s.topK
        s.minP = minP ?? s.minP
        s.repetitionPenalty = repeatPenalty ?? s.repetitionPenalty
        s.seed = seed ?? s.seed
        s.stop = stop ?? s.stop
        return s
    }

    public init(question: String, k: Int? = nil, passages: Int? = nil, contextTokens: Int? = nil, filter: FilterRequest? = nil,
                scoring: ScoringRequest? = nil, now: Timestamp? = nil, mode: RetrievalMode? = nil, graphHops: Int? = nil) {
        self.question = question
        self.graphHops = graphHops
        self.k = k
        self.passages = passages
        self.contextTokens = contextTokens
        self.filter = filter
        self.scoring = scoring
        self.now = now
        self.mode = mode
    }
}

/// A source of an answer: the passage number it had and the memory behind it.
public struct AskSource: Codable, Sendable, Equatable {
    public var n: Int
    public var id: String
    public var score: Double
    public var time: Timestamp
    public var text: String
}

/// A memory retrieval found for the question (before the passages were chosen).
public struct AskRetrieved: Codable, Sendable, Equatable {
    /// Why a retrieved memory is not a passage.
    public enum LeftOut: String, Codable, Sendable, CaseIterable {
        /// A near-duplicate of a better memory.
        case duplicate
        /// No room was left in the context's token budget.
        case budget
        /// Past the number of passages (in the order of relevance and diversity).
        case passages
    }

    public var id: String
    public var score: Double
    public var time: Timestamp
    /// nil when it is a passage.
    public var left: LeftOut?
}

/// An answer with its sources.
///
/// JSON: `{"answerId","answer","citations":[{"n","id","score","time","text"}],"uncited":[…],
/// "unknownCitations":[n],"retrieved":[{"id","score","time","left"?}],"examples":[id],"model","cached",
/// "usage":{"promptTokens","cachedPromptTokens","completionTokens"},
/// "timings":{"retrieveMs","prefillMs","decodeMs","firstTokenMs"}}`.
public struct AskResponse: Codable, Sendable, Equatable {
    public struct Usage: Codable, Sendable, Equatable {
        public var promptTokens: Int
        /// Prompt tokens whose state the engine kept from the previous question (warm prefix).
        public var cachedPromptTokens: Int
        public var completionTokens: Int
    }
    public struct Timings: Codable, Sendable, Equatable {
        public var retrieveMs: Double
        public var prefillMs: Double
        public var decodeMs: Double
        /// From the start of generation to its first text.
        public var firstTokenMs: Double?
    }

    public var answerId: String
    public var answer: String
    /// The passages the answer cites, in order of first citation.
    public var citations: [AskSource]
    /// The passages it was given but did not cite.
    public var uncited: [AskSource]
    /// Numbers the answer cites that no passage had.
    public var unknownCitations: [Int]
    public var retrieved: [AskRetrieved]
    /// The ids of the worked examples put before the question, most similar first.
    public var examples: [String]
    public var model: String
    /// Whether the answer was stored for the same prompt and is returned without generating
    /// (then `usage` is the stored answer's and `timings` count retrieval only).
    public var cached: Bool
    public var usage: Usage
    public var timings: Timings
}

/// A message of `RAG/Ask`'s stream: a piece of the answer as it is generated
/// (`{"text"}`), then the whole answer with its sources (`{"response": AskResponse}`).
public struct AskStreamMessage: Codable, Sendable, Equatable {
    public var text: String?
    public var response: AskResponse?
    public init(text: String? = nil, response: AskResponse? = nil) {
        self.text = text
        self.response = response
    }
}
