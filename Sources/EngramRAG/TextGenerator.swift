import EngramBase

/// One turn of a conversation given to a text generator.
public struct ChatTurn: Sendable, Equatable, Codable {
    public enum Role: String, Sendable, Codable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(_ role: Role, _ content: String) {
        self.role = role
        self.content = content
    }
}

/// Limits and sampling of one answer.
public struct GenerationSettings: Sendable, Equatable, Codable {
    public var maxTokens = 256
    /// 0 is greedy.
    public var temperature: Float = 0.2
    public var topK = 40
    public var topP: Float = 0.95
    public var minP: Float = 0.05
    /// Penalty for repeating recent tokens (1 disables).
    public var repetitionPenalty: Float = 1.0
    public var seed: UInt64?
    /// Generation stops before any of these strings.
    public var stop: [String] = []
    public init() {}
}

/// What one generation produced, and what it cost.
public struct GenerationOutcome: Sendable, Equatable {
    public enum Finish: String, Sendable, Codable { case stop, length, cancelled }
    public var text: String
    public var finish: Finish
    public var promptTokens: Int
    /// Prompt tokens whose state was kept from the previous call (the warm prefix).
    public var cachedPromptTokens: Int
    public var completionTokens: Int
    /// Evaluating the prompt (the part not kept), generating, and until the first text.
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    public var firstTextSeconds: Double?

    public init(text: String, finish: Finish, promptTokens: Int, cachedPromptTokens: Int, completionTokens: Int,
                prefillSeconds: Double, decodeSeconds: Double, firstTextSeconds: Double?) {
        self.text = text
        self.finish = finish
        self.promptTokens = promptTokens
        self.cachedPromptTokens = cachedPromptTokens
        self.completionTokens = completionTokens
        self.prefillSeconds = prefillSeconds
        self.decodeSeconds = decodeSeconds
        self.firstTextSeconds = firstTextSeconds
    }
}

/// Writes text from a conversation: the engine behind `ask` (as `Embedder` is the model behind
/// vectors). Implementations are safe to share between tasks and run their work on threads of
/// their own, never on Swift's cooperative pool.
public protocol TextGenerator: Sendable {
    /// A stable name for the model, e.g. `"SmolLM2-135M-Instruct.Q4_1"`.
    var modelIdentifier: String { get }
    /// Most tokens of prompt and answer together.
    var contextSize: Int { get }
    /// Tokens `text` takes inside a prompt.
    func tokenCount(_ text: String) -> Int
    /// Tokens the whole conversation takes as a prompt (template and markers included).
    func promptTokenCount(_ turns: [ChatTurn]) -> Int
    /// Generates the assistant's reply to `turns`; `onText` receives the text as it is decided.
    func generate(_ turns: [ChatTurn], settings: GenerationSettings,
                  onText: @escaping @Sendable (String) -> Void) async throws -> GenerationOutcome
}
