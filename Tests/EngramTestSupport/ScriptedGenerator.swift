import EngramRAG
import Synchronization

/// A generator that answers with a given text and records the prompts it got: the results of
/// the RAG logic around it (context, prompt, citations, feedback) are then exact. Tokens are
/// words.
public final class ScriptedGenerator: TextGenerator {
    public let reply: String
    public let contextSize: Int
    public let modelIdentifier = "scripted"
    public let prompts = Mutex<[[ChatTurn]]>([])

    public init(reply: String, contextSize: Int = 4096) {
        self.reply = reply
        self.contextSize = contextSize
    }

    public func tokenCount(_ text: String) -> Int { text.split(whereSeparator: \.isWhitespace).count }
    public func promptTokenCount(_ turns: [ChatTurn]) -> Int { turns.reduce(0) { $0 + tokenCount($1.content) + 2 } }

    public func generate(_ turns: [ChatTurn], settings: GenerationSettings,
                         onText: @escaping @Sendable (String) -> Void) async throws -> GenerationOutcome {
        prompts.withLock { $0.append(turns) }
        onText(reply)
        return GenerationOutcome(text: reply, finish: .stop, promptTokens: promptTokenCount(turns), cachedPromptTokens: 0,
                                 completionTokens: tokenCount(reply), prefillSeconds: 0, decodeSeconds: 0, firstTextSeconds: 0)
    }
}
