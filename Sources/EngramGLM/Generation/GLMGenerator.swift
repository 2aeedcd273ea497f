import EngramBase
import Foundation

/// What to generate from.
public enum GLMPrompt: Sendable {
    /// Raw text; `special` recognises control tokens such as `<|im_start|>` in it.
    case text(String, special: Bool)
    /// A conversation, formatted with the generator's chat template.
    case chat([GLMChatMessage])
    /// Token ids as they are.
    case tokens([Int32])
}

/// Limits and sampling of one generation.
public struct GLMGenerationOptions: Sendable {
    /// Most tokens to generate, in 1...the generator's `contextSize` (the generator refuses
    /// other values). Generation also ends when prompt and output fill the context (finish
    /// reason `length`). Default 256.
    public var maxTokens = 256
    public var sampling = GLMSamplingParameters()
    /// Generation stops before any of these strings; they are not part of the output.
    public var stopStrings: [String] = []
    /// Extra token ids that end generation (besides the model's end-of-generation tokens).
    public var stopTokens: [Int32] = []

    public init(maxTokens: Int = 256, sampling: GLMSamplingParameters = GLMSamplingParameters(),
                stopStrings: [String] = [], stopTokens: [Int32] = []) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopStrings = stopStrings
        self.stopTokens = stopTokens
    }
}

/// A piece of streamed output.
public struct GLMTextPiece: Sendable {
    public let text: String
    /// Tokens generated since the previous piece (their text may be partly held back).
    public let tokens: [Int32]
    /// Tokens generated so far in this call.
    public let generatedCount: Int
}

public struct GLMTimings: Sendable, Codable {
    /// Seconds spent evaluating the prompt (only the part not reused from the cache).
    public var promptSeconds: Double
    public var generationSeconds: Double
    public var promptTokensPerSecond: Double
    public var generationTokensPerSecond: Double
}

public struct GLMUsage: Sendable, Codable {
    public var promptTokens: Int
    /// Prompt tokens whose keys and values were reused from the previous call.
    public var cachedPromptTokens: Int
    public var completionTokens: Int
}

/// The outcome of one generation.
public struct GLMGenerationResult: Sendable {
    public enum FinishReason: String, Sendable, Codable { case stop, length, cancelled }
    public let text: String
    /// Ids of the generated tokens (the end-of-generation token excluded).
    public let tokens: [Int32]
    public let promptTokens: [Int32]
    public let finishReason: FinishReason
    public let usage: GLMUsage
    public let timings: GLMTimings
}

public enum GLMGenerationEvent: Sendable {
    case piece(GLMTextPiece)
    case finished(GLMGenerationResult)
}

/// Generates text with a model: chat formatting, sampling, stop tokens and strings, streaming,
/// and reuse of the KV cache for the prompt prefix shared with the previous call.
///
/// Thread-safe: calls are serialised (one generation at a time per generator).
public final class GLMGenerator: @unchecked Sendable {
    public let model: GLMModel
    public let tokenizer: GLMTokenizer
    public let chatTemplate: GLMChatTemplate
    let context: GLMContext
    private let lock = NSLock()

    /// Positions of the context when none is given: the model's context length, at most this
    /// many (the KV cache grows with the positions used, up to the context size).
    public static let defaultContextLimit = 4096

    /// - Parameters:
    ///   - threads: kernel threads, in 1...`GLMThreading.maximumThreadCount` (default: the
    ///     number of cores).
    ///   - contextSize: most positions, prompt and output together (default: the model's
    ///     context length, at most `defaultContextLimit`).
    ///   - chatTemplate: overrides the template recognised from the model.
    /// - Throws: `EngramError`: as `GLMTokenizer.init` for the model's tokenizer, as
    ///   `GLMContext.init` for `threads` and `contextSize`.
    public init(model: GLMModel, threads: Int = GLMThreading.defaultThreadCount, contextSize: Int? = nil,
                chatTemplate: GLMChatTemplate? = nil) throws {
        self.model = model
        tokenizer = try GLMTokenizer(file: model.file)
        self.chatTemplate = chatTemplate ?? GLMChatTemplate.forModel(model.file)
        context = try GLMContext(model: model, threads: threads, contextSize: contextSize ?? min(model.config.contextLength, GLMGenerator.defaultContextLimit))
    }

    public convenience init(path: String, threads: Int = GLMThreading.defaultThreadCount) throws {
        try self.init(model: GLMModel(path: path), threads: threads)
    }

    /// Most positions, prompt and output together; the bound of `GLMGenerationOptions.maxTokens`.
    public var contextSize: Int { context.contextSize }

    /// Kernel threads, the calling thread included.
    public var threads: Int { lock.withLock { context.threads } }

    /// Uses `count` kernel threads from the next call on.
    /// - Throws: as `GLMContext.setThreads`.
    public func setThreads(_ count: Int) throws {
        try lock.withLock { try context.setThreads(count) }
    }

    /// The token ids a prompt evaluates to (BOS added when the model asks for it).
    public func promptTokens(for prompt: GLMPrompt) -> [Int32] {
        var ids: [Int32]
        switch prompt {
        case .tokens(let t): return t
        case .text(let s, let special): ids = tokenizer.encode(s, special: special)
        case .chat(let messages): ids = tokenizer.encode(chatTemplate.render(messages), special: true)
        }
        if tokenizer.addBOS, let bos = tokenizer.bosToken, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }

    /// Token ids that end generation: the model's EOS, the chat family's end tokens, `extra`.
    public func endTokens(extra: [Int32] = []) -> Set<Int32> {
        var s = Set(extra)
        if let eos = tokenizer.eosToken { s.insert(eos) }
        for name in chatTemplate.stopTokens { if let id = tokenizer.tokenID(name) { s.insert(id) } }
        return s
    }

    /// Streams the generation as text pieces, then one `.finished` event. Cancelling the
    /// consuming task (or dropping the stream) stops generation after the current token.
    public func stream(_ prompt: GLMPrompt, options: GLMGenerationOptions = GLMGenerationOptions())
        -> AsyncThrowingStream<GLMGenerationEvent, Error> {
        AsyncThrowingStream { continuation in
            let task = Task.detached {
                do {
                    let result = try self.generateSync(prompt, options: options, isCancelled: { Task.isCancelled }) {
                        continuation.yield(.piece($0))
                    }
                    continuation.yield(.finished(result))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Generates to the end and returns the result (cancellation of the calling task stops it).
    public func generate(_ prompt: GLMPrompt, options: GLMGenerationOptions = GLMGenerationOptions()) async throws -> GLMGenerationResult {
        for try await event in stream(prompt, options: options) {
            if case .finished(let r) = event { return r }
        }
        throw EngramError(.cancelled, "the generation was cancelled before it finished", reason: .generationCancelled)
    }

    /// The generation loop, on the calling thread. `onPiece` receives text as it is decided.
    /// - Throws: `EngramError` `.invalidArgument`: `invalidSampling` for sampling parameters out
    ///   of range, `invalidMaxTokens` for `maxTokens` outside 1...`contextSize`, `emptyPrompt`,
    ///   `contextOverflow` for a prompt that leaves no room to generate,
    ///   `tokenOutsideVocabulary` for a `.tokens` prompt with unknown ids. Nothing is evaluated
    ///   when the options are invalid. `.dataLoss` (`nonFiniteLogits`) when the model's logits
    ///   are NaN or infinite (damaged weights), rather than sampling from them.
    public func generateSync(_ prompt: GLMPrompt, options: GLMGenerationOptions = GLMGenerationOptions(),
                             isCancelled: () -> Bool = { false },
                             onPiece: (GLMTextPiece) -> Void = { _ in }) throws -> GLMGenerationResult {
        lock.lock()
        defer { lock.unlock() }
        var sampler = try GLMSampler(options.sampling)
        guard options.maxTokens >= 1, options.maxTokens <= context.contextSize else {
            throw EngramError(.invalidArgument, """
                maxTokens \(options.maxTokens) is outside 1...\(context.contextSize): the context holds \(context.contextSize) \
                positions, prompt and output together
                """, reason: .invalidMaxTokens)
        }
        let promptIDs = promptTokens(for: prompt)
        guard !promptIDs.isEmpty else { throw EngramError(.invalidArgument, "the prompt is empty", reason: .emptyPrompt) }
        guard promptIDs.count < context.contextSize else {
            throw EngramError(.invalidArgument, "the prompt has \(promptIDs.count) tokens; the context holds \(context.contextSize), including the reply",
                              reason: .contextOverflow)
        }

        // Prefix reuse: keep the cached positions shared with this prompt, evaluate the rest
        // (always at least the last prompt token, whose logits we need).
        var common = 0
        let cached = context.tokens
        while common < min(cached.count, promptIDs.count - 1) && cached[common] == promptIDs[common] { common += 1 }
        context.truncate(to: common)
        // Both terms are at most contextSize: no overflow.
        let maxTokens = min(options.maxTokens, context.contextSize - promptIDs.count)
        context.reserve(promptIDs.count + maxTokens)
        let t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try context.evaluate(Array(promptIDs[common...]))
        try requireFinite(logits)
        let t1 = DispatchTime.now().uptimeNanoseconds

        let ends = endTokens(extra: options.stopTokens)
        var decoder = StreamingDecoder()
        var matcher = StopStringMatcher(options.stopStrings)
        var generated: [Int32] = []
        var pendingTokens: [Int32] = []
        var text = ""
        var reason = GLMGenerationResult.FinishReason.length
        var stoppedByString = false

        func emit(_ s: String) {
            guard !s.isEmpty else { return }
            text += s
            onPiece(GLMTextPiece(text: s, tokens: pendingTokens, generatedCount: generated.count))
            pendingTokens.removeAll()
        }

        loop: while generated.count < maxTokens {
            if isCancelled() { reason = .cancelled; break }
            let token = try sampler.sample(logits, history: promptIDs + generated)
            if ends.contains(token) { reason = .stop; break }
            generated.append(token)
            pendingTokens.append(token)
            let (out, stopped) = matcher.feed(decoder.append(tokenizer.tokenBytes(token)))
            emit(out)
            if stopped { reason = .stop; stoppedByString = true; break loop }
            if generated.count == maxTokens { break }
            logits = try context.evaluate([token], generating: true)
            try requireFinite(logits)
        }
        if !stoppedByString {
            // Release held-back text: an unfinished UTF-8 sequence, a possible stop-string start.
            let (out, stopped) = matcher.feed(decoder.flush())
            emit(out)
            if !stopped { emit(matcher.flush()) }
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        let promptSeconds = Double(t1 - t0) / 1e9, genSeconds = Double(t2 - t1) / 1e9
        let evaluated = promptIDs.count - common
        return GLMGenerationResult(
            text: text, tokens: generated, promptTokens: promptIDs, finishReason: reason,
            usage: GLMUsage(promptTokens: promptIDs.count, cachedPromptTokens: common, completionTokens: generated.count),
            timings: GLMTimings(promptSeconds: promptSeconds, generationSeconds: genSeconds,
                                promptTokensPerSecond: promptSeconds > 0 ? Double(evaluated) / promptSeconds : 0,
                                generationTokensPerSecond: genSeconds > 0 ? Double(generated.count) / genSeconds : 0))
    }

    /// - Throws: `EngramError` `.dataLoss` (`nonFiniteLogits`) unless every logit is finite.
    private func requireFinite(_ logits: [Float]) throws {
        guard logits.allSatisfy(\.isFinite) else {
            throw EngramError(.dataLoss, """
                the model produced non-finite logits (NaN or infinity) after \(context.tokens.count) tokens: its weights \
                are probably damaged; check \(model.file.path) or download it again (\(GLMModelLocator.setupCommand) \
                fetches the default model)
                """, reason: .nonFiniteLogits)
        }
    }
}
