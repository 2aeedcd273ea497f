import EngramBase
import EngramGLM
import Foundation

/// The native GGUF engine as a `TextGenerator`: the model's own chat template, and the KV
/// state of the prompt prefix shared with the previous call kept (so the system message and
/// examples of a second question are not evaluated again).
///
/// Generation runs on a serial queue of its own (one generation at a time, as the engine
/// allows), never on Swift's cooperative pool.
public final class GLMTextGenerator: TextGenerator {
    public let engine: GLMGenerator
    public let modelIdentifier: String
    private let queue = DispatchQueue(label: "engram.rag.generate", qos: .userInitiated)

    public init(_ engine: GLMGenerator) {
        self.engine = engine
        modelIdentifier = URL(fileURLWithPath: engine.model.file.path).deletingPathExtension().lastPathComponent
    }

    public var contextSize: Int { engine.contextSize }

    public func tokenCount(_ text: String) -> Int { engine.tokenizer.encode(text, special: false).count }

    public func promptTokenCount(_ turns: [ChatTurn]) -> Int { engine.promptTokens(for: .chat(Self.messages(turns))).count }

    public func generate(_ turns: [ChatTurn], settings: GenerationSettings,
                         onText: @escaping @Sendable (String) -> Void) async throws -> GenerationOutcome {
        let options = GLMGenerationOptions(maxTokens: settings.maxTokens, sampling: GLMSamplingParameters(settings),
                                           stopStrings: settings.stop)
        let prompt = GLMPrompt.chat(Self.messages(turns))
        let engine = self.engine
        // Cancelling the task stops the generation at the next token.
        let cancelled = OnceFlag()
        let outcome = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async {
                    let started = DispatchTime.now().uptimeNanoseconds
                    var firstText: Double?
                    let result = Result {
                        try engine.generateSync(prompt, options: options, isCancelled: { cancelled.isSet }, onPiece: { piece in
                            if firstText == nil { firstText = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
                            onText(piece.text)
                        })
                    }
                    continuation.resume(with: result.map { r in
                        GenerationOutcome(text: r.text, finish: GenerationOutcome.Finish(rawValue: r.finishReason.rawValue) ?? .stop,
                                          promptTokens: r.usage.promptTokens, cachedPromptTokens: r.usage.cachedPromptTokens,
                                          completionTokens: r.usage.completionTokens, prefillSeconds: r.timings.promptSeconds,
                                          decodeSeconds: r.timings.generationSeconds, firstTextSeconds: firstText)
                    })
                }
            }
        } onCancel: {
            cancelled.set()
        }
        // A cut answer is not an answer: nothing of it is kept.
        if cancelled.isSet { throw CancellationError() }
        return outcome
    }

    private static func messages(_ turns: [ChatTurn]) -> [GLMChatMessage] {
        turns.map { GLMChatMessage(GLMChatMessage.Role(rawValue: $0.role.rawValue)!, $0.content) }
    }
}

extension GLMSamplingParameters {
    /// The engine's sampling for `settings` (the length and stop strings go to
    /// `GLMGenerationOptions`).
    public init(_ settings: GenerationSettings) {
        self.init()
        temperature = settings.temperature
        topK = settings.topK
        topP = settings.topP
        minP = settings.minP
        repetitionPenalty = settings.repetitionPenalty
        seed = settings.seed
    }
}
