import EngramRAG
import Foundation

/// The `[ask]` section of `engram.toml`: what `ask` uses for this database when a request
/// does not say.
///
/// ```toml
/// [ask]
/// prompts = ""          # directory of system.txt and question.txt ("": the bundled Data/prompts;
///                       # a relative path is from the database directory)
/// passages = 5          # passages given to the model at most, 1…100
/// context_tokens = 1024 # tokens the passages may take, ≥ 1
/// max_tokens = 256      # tokens of an answer at most, ≥ 1
/// temperature = 0.2     # sampling temperature, ≥ 0 (0 is greedy)
/// examples = 2          # worked examples put before a question at most, 0…20 (0: none)
/// examples_namespace = "examples"  # the namespace that holds them (left out of retrieval)
/// feedback_rate = 0.2   # how far one feedback moves a cited memory's importance, 0 < r ≤ 1
/// answer_retention = "90d"  # how long answers are kept for feedback
/// ```
public struct AskSettings: Sendable, Equatable {
    public var prompts = ""
    public var passages = 5
    public var contextTokens = 1024
    public var maxTokens = 256
    public var temperature = 0.2
    public var examples = 2
    public var examplesNamespace = "examples"
    public var feedbackRate = 0.2
    /// Seconds.
    public var answerRetention: Double = 90 * 86_400

    public static let section = "ask"
    /// The most examples one question may show.
    public static let maxExamples = 20

    public init() {}

    /// Reads `[ask]` of `document` (absent keys keep their defaults).
    /// - Throws: `EngramError` `.invalidArgument` (`invalidSettings`) for an unknown key, a
    ///   wrong type or a value out of range.
    public init(_ document: SettingsDocument) throws {
        var s = try document.section(Self.section)
        prompts = try s.string("prompts", default: prompts)
        passages = try s.integer("passages", default: passages)
        contextTokens = try s.integer("context_tokens", default: contextTokens)
        maxTokens = try s.integer("max_tokens", default: maxTokens)
        temperature = try s.number("temperature", default: temperature)
        examples = try s.integer("examples", default: examples)
        examplesNamespace = try s.string("examples_namespace", default: examplesNamespace)
        feedbackRate = try s.number("feedback_rate", default: feedbackRate)
        answerRetention = try s.duration("answer_retention", default: answerRetention)
        try s.rejectUnknownKeys()
        func bad(_ message: String) -> EngramError {
            EngramError(.invalidArgument, "engram.toml: [ask] \(message)", reason: .invalidSettings)
        }
        guard (1...ContextLimits.maxPassages).contains(passages) else { throw bad("passages must be between 1 and \(ContextLimits.maxPassages)") }
        guard contextTokens >= 1 else { throw bad("context_tokens must be at least 1") }
        guard maxTokens >= 1 else { throw bad("max_tokens must be at least 1") }
        guard temperature.isFinite, temperature >= 0 else { throw bad("temperature must be a finite number ≥ 0") }
        guard (0...Self.maxExamples).contains(examples) else { throw bad("examples must be between 0 and \(Self.maxExamples)") }
        guard !examplesNamespace.isEmpty else { throw bad("examples_namespace must not be empty") }
        guard feedbackRate.isFinite, feedbackRate > 0, feedbackRate <= 1 else { throw bad("feedback_rate must be in (0, 1]") }
        guard answerRetention > 0 else { throw bad("answer_retention must be a positive duration") }
    }

    /// The generation settings these defaults make.
    public var generation: GenerationSettings {
        var s = GenerationSettings()
        s.maxTokens = maxTokens
        s.temperature = Float(temperature)
        return s
    }
}
