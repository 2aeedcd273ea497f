import EngramBase

/// Evaluation state for one conversation: the KV cache and the tokens it holds.
///
/// Not thread-safe: use one context from one task at a time (the generator serialises calls).
/// Several contexts may share one `GLMModel`.
/// The kernels' threads belong to the context: they are started with it and stopped and
/// joined when it is released.
public final class GLMContext: @unchecked Sendable {
    public let model: GLMModel
    /// Threads used by the kernels, the calling thread included.
    public var threads: Int { workers.size }
    /// Maximum number of positions (defaults to the model's context length).
    public let contextSize: Int
    /// The tokens whose keys and values are in the cache, in order.
    public private(set) var tokens: [Int32] = []
    let cache: KVCache
    private var workers: WorkerPool

    /// Longest batch evaluated at once; longer inputs are split. The scratch memory grows with
    /// the batch (~16 MB of floats at 512 tokens for SmolLM2-135M); a batch reads (and on AVX2
    /// dequantizes) every weight matrix once, so a prompt of a few hundred tokens runs fastest
    /// whole: at 128, `ask`'s 194-token prompt took two batches and 397 ms warm, in one 354 ms.
    /// 512 is also llama.cpp's default micro-batch.
    public static let maximumBatch = 512

    /// - Parameters:
    ///   - threads: kernel threads, in 1...`GLMThreading.maximumThreadCount` (default: the
    ///     number of cores).
    ///   - contextSize: most positions, at least 1; more than the model's context length is
    ///     cut to it (default: the model's context length).
    /// - Throws: `EngramError` `.invalidArgument` (`invalidThreadCount`, `invalidContextSize`),
    ///   or `.resourceExhausted` (`threadStartFailed`) when the system refuses a thread.
    public init(model: GLMModel, threads: Int = GLMThreading.defaultThreadCount, contextSize: Int? = nil) throws {
        try GLMThreading.validate(threads)
        if let contextSize, contextSize < 1 {
            throw EngramError(.invalidArgument, "context size \(contextSize) must be at least 1", reason: .invalidContextSize)
        }
        self.model = model
        self.contextSize = min(contextSize ?? model.config.contextLength, model.config.contextLength)
        cache = KVCache(layers: model.config.blockCount, rowSize: model.config.kvDimension)
        workers = try WorkerPool(size: threads)
    }

    /// Uses `count` kernel threads from the next evaluation on (the old ones are stopped).
    /// - Throws: as `init` for the thread count; the context is unchanged after an error.
    public func setThreads(_ count: Int) throws {
        try GLMThreading.validate(count)
        guard count != workers.size else { return }
        workers = try WorkerPool(size: count)
    }

    /// Forgets every cached position.
    public func reset() { tokens.removeAll() }

    /// Keeps only the first `count` cached positions (for prefix reuse); `count` ≤ 0 keeps
    /// none, `count` ≥ the cached positions keeps all.
    public func truncate(to count: Int) {
        if count < tokens.count { tokens.removeLast(tokens.count - max(0, count)) }
    }

    /// Evaluates `newTokens` after the cached ones and appends them to the cache.
    ///
    /// - Returns: logits, `vocabularySize` floats per row: one row for the last token, or one
    ///   row per token of `newTokens` when `allLogits` is true (row-major `[count × vocab]`).
    ///   Non-finite activations (from damaged weights) give NaN logits, never a trap.
    /// - Throws: `EngramError` `.invalidArgument`: `emptyPrompt` for an empty batch,
    ///   `tokenOutsideVocabulary` for a token id outside the vocabulary, `contextOverflow` when
    ///   the cached and new tokens together exceed `contextSize`.
    public func evaluate(_ newTokens: [Int32], allLogits: Bool = false, generating: Bool = false) throws -> [Float] {
        guard !newTokens.isEmpty else { throw EngramError(.invalidArgument, "nothing to evaluate: the batch of tokens is empty", reason: .emptyPrompt) }
        let vocab = model.tokenEmbedding.rows
        for t in newTokens where t < 0 || Int(t) >= vocab {
            throw EngramError(.invalidArgument, "token id \(t) is outside the vocabulary (0..<\(vocab))", reason: .tokenOutsideVocabulary)
        }
        guard tokens.count + newTokens.count <= contextSize else {
            throw EngramError(.invalidArgument, "context overflow: \(tokens.count) + \(newTokens.count) tokens exceed the context size \(contextSize)",
                              reason: .contextOverflow)
        }
        reserve(tokens.count + newTokens.count)
        var logits: [Float] = []
        var done = 0
        while done < newTokens.count {
            let n = min(GLMContext.maximumBatch, newTokens.count - done)
            let batch = Array(newTokens[done..<done + n])
            let last = done + n == newTokens.count
            let rows = evaluateBatch(batch, logits: allLogits ? .all : (last ? .last : .none),
                                     terms: generating ? 1 : WeightTiles.promptActivationTerms)
            logits += rows
            done += n
        }
        return logits
    }

    /// Makes room in the KV cache for `positions` positions at once (growing copies the cache,
    /// so reserving what a request will need up front keeps the peak memory down).
    public func reserve(_ positions: Int) {
        cache.reserve(min(positions, contextSize), keep: tokens.count)
    }

    enum LogitRows { case none, last, all }

    private func evaluateBatch(_ batch: [Int32], logits: LogitRows, terms: Int) -> [Float] {
        let c = model.config, e = c.embeddingLength
        let start = tokens.count
        cache.reserve(start + batch.count, keep: start)
        var s = ForwardState(model: model, cache: cache, workers: workers, count: batch.count, start: start, terms: terms)
        defer { s.deallocate() }
        for (t, id) in batch.enumerated() {
            model.tokenEmbedding.dequantizeRow(Int(id), into: s.x + t * e)
        }
        // The last layer computes only what is read: every token's keys and values for the
        // cache, and the rest for the token whose logits are asked for (as llama.cpp does), or
        // for none: for SmolLM2-135M, 84% of a layer of 30 for all but one token of a prompt.
        let lastLayer = c.blockCount - 1
        for layer in 0..<lastLayer { model.runBlock(layer, &s) }
        switch logits {
        case .all:
            model.runBlock(lastLayer, &s)
        case .last where batch.count == 1:
            model.runBlock(lastLayer, &s)
        case .last:
            s.storeKeysValues(model.blocks[lastLayer], layer: lastLayer)
            var last = s.lastToken
            model.runBlock(lastLayer, &last)
        case .none:
            s.storeKeysValues(model.blocks[lastLayer], layer: lastLayer)
        }
        tokens += batch

        let first: Int
        switch logits {
        case .none: return []
        case .last: first = batch.count - 1
        case .all: first = 0
        }
        let rows = batch.count - first
        let vocab = model.vocabularySize
        var out = [Float](repeating: 0, count: rows * vocab)
        model.outputNorm.withUnsafeBufferPointer { w in
            for r in 0..<rows {
                rmsNorm(s.x + (first + r) * e, w.baseAddress!, s.a + r * e, e, eps: c.rmsEpsilon)
            }
        }
        out.withUnsafeMutableBufferPointer { o in
            model.output.matmul(s.a, o.baseAddress!, count: rows, terms: terms, workers: workers)
        }
        return out
    }
}
