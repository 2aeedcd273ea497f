import CBLAS
import EngramBase
import Foundation

/// The all-MiniLM-L6-v2 sentence embedder, natively: WordPiece tokenizer, 6-layer BERT encoder
/// on OpenBLAS, mean pooling over the real tokens, L2 normalisation. 384-dimensional output.
///
/// Reads the model folder the project's set-up creates (`Tools/setup-models.sh`):
/// `model.safetensors`, `config.json`, `tokenizer.json` (or `vocab.txt`), and when present
/// `sentence_bert_config.json` (`max_seq_length`, 256) and `1_Pooling/config.json`.
///
/// Batching: `embed` tokenizes all texts, sorts them by token count and runs them through the
/// encoder in groups of at most `maxBatch` sentences and `maxTokensPerPass` tokens, so similar
/// lengths share a group; within a group the sentences are packed without padding (see
/// `BertEncoder`), so results do not depend on which other texts share the call. Texts longer
/// than `max_seq_length` (256) tokens are truncated.
///
/// Threads: the embedder parallelises itself over `threads` worker threads (default: active
/// cores, capped at 2) and sets OpenBLAS to 1 thread, process-wide, in `init`. On this
/// project's 2-core machine that measured faster than letting OpenBLAS thread each product
/// (≈6.5 vs ≈8 ms of CPU per sentence at batch 32): OpenBLAS's idle threads spin while the
/// vectorised steps (LayerNorm, GELU, softmax) run on one core, whereas the workers keep both
/// cores busy through every step with only two synchronisation points per layer. Another
/// module that later raises OpenBLAS's thread count does not break the embedder, but makes
/// each worker's products spawn threads of their own (over-subscription).
///
/// Memory: about `tokens × (6·384 + 1536) × 4` bytes of scratch per pass — 126 MB at the
/// `maxTokensPerPass` limit — freed when `embed` returns.
///
/// Thread-safety: immutable after `init`; `embed` may be called from several tasks at once
/// (each call uses its own scratch memory). `embed` runs on Dispatch's global pool and does
/// not block Swift concurrency's cooperative threads; `embedSynchronously` runs on the caller.
public final class MiniLMEmbedder: Embedder {
    /// Identifier of the standard model.
    public static let defaultModelIdentifier = "all-MiniLM-L6-v2"

    public let dimension: Int
    public let modelIdentifier: String
    /// Largest number of sentences run through the encoder together.
    public let maxBatch: Int
    /// Largest number of tokens run through the encoder together (32 full-length sentences).
    public static let maxTokensPerPass = 8192
    public let tokenizer: WordPieceTokenizer
    public let configuration: BertConfiguration
    /// Worker threads sharing each pass through the encoder.
    public let threads: Int
    private let encoder: BertEncoder

    /// Loads the model in `modelDirectory`.
    /// - Parameters:
    ///   - threads: worker threads per pass; default the thread budget's cores
    ///     (`ThreadBudget.cores`). OpenBLAS is set to 1 thread (see `ThreadBudget`).
    ///   - maxBatch: sentences per encoder pass, at least 1.
    ///   - modelIdentifier: name recorded by databases; defaults to the folder's name
    ///     (`all-MiniLM-L6-v2` for the standard set-up).
    /// - Throws: `EngramError` naming the missing or inconsistent file: `.notFound`
    ///   (`embeddingModelNotFound`, `missingModelFile`), `.dataLoss` for a damaged or
    ///   inconsistent file, `.unimplemented` for a model the embedder does not run.
    public init(modelDirectory: URL, threads: Int? = nil, maxBatch: Int = 32, modelIdentifier: String? = nil) throws {
        let directory = modelDirectory.standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EngramError.embeddingModelNotFound(searched: [directory.path])
        }
        let configuration = try BertConfiguration(modelDirectory: directory)
        let tokenizerJSON = directory.appendingPathComponent("tokenizer.json")
        let tokenizer = FileManager.default.fileExists(atPath: tokenizerJSON.path)
            ? try WordPieceTokenizer(tokenizerJSON: tokenizerJSON, maxLength: configuration.maxSequenceLength)
            : try WordPieceTokenizer(vocabularyFile: directory.appendingPathComponent("vocab.txt"), maxLength: configuration.maxSequenceLength)
        guard tokenizer.vocabularySize <= configuration.vocabularySize else {
            throw EngramError.invalidEmbeddingConfiguration(
                path: tokenizerJSON.path,
                problem: "the vocabulary has \(tokenizer.vocabularySize) tokens but the model only \(configuration.vocabularySize)")
        }
        guard configuration.hiddenSize % vecWidth == 0, configuration.intermediateSize % vecWidth == 0 else {
            throw EngramError.unsupportedEmbeddingModel(path: directory.appendingPathComponent("config.json").path,
                                                        problem: "hidden and intermediate sizes must be multiples of \(vecWidth)")
        }
        let file = try SafeTensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        let weights = try BertWeights(file: file, configuration: configuration)

        let threadCount = max(1, threads ?? ThreadBudget.cores)
        ThreadBudget.configureBLAS(for: .kernels) { openblas_set_num_threads($0) }

        self.threads = threadCount
        self.configuration = configuration
        self.tokenizer = tokenizer
        self.encoder = BertEncoder(configuration: configuration, weights: weights)
        self.dimension = configuration.hiddenSize
        self.maxBatch = max(1, maxBatch)
        let name = directory.lastPathComponent
        self.modelIdentifier = modelIdentifier ?? (name.isEmpty ? Self.defaultModelIdentifier : name)
    }

    /// Embeds `texts` (see the type's notes on batching). An empty text embeds `[CLS] [SEP]`.
    /// The work runs on Dispatch's global pool, so the calling task's thread is not blocked.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        if texts.isEmpty { return [] }
        return await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(returning: self.embedSynchronously(texts))
            }
        }
    }

    /// `embed` without `async`, for callers that are not in a task (benchmarks, tools).
    public func embedSynchronously(_ texts: [String]) -> [[Float]] {
        // The tokenizer's ids are all below the model's vocabulary size (checked in `init`).
        run(texts.map(tokenizer.encode))
    }

    /// Embeds already-tokenized inputs (each `[CLS] … [SEP]` as `tokenizer.encode` returns).
    /// Sequences longer than `configuration.maxSequenceLength` keep their first tokens and
    /// their final `[SEP]`; empty sequences embed as `[CLS] [SEP]`.
    /// - Throws: `EngramError` `.invalidArgument` (`embeddingTokenOutsideVocabulary`) for an id
    ///   outside the vocabulary.
    public func embed(tokenIDs: [[Int32]]) throws -> [[Float]] {
        let size = configuration.vocabularySize
        for ids in tokenIDs {
            if let bad = ids.first(where: { $0 < 0 || Int($0) >= size }) {
                throw EngramError.embeddingTokenOutsideVocabulary(bad, vocabularySize: size)
            }
        }
        return run(tokenIDs)
    }

    /// Truncates, groups and encodes valid id sequences.
    private func run(_ tokenIDs: [[Int32]]) -> [[Float]] {
        let limit = configuration.maxSequenceLength
        let sequences = tokenIDs.map { ids -> [Int32] in
            if ids.isEmpty { return [tokenizer.clsID, tokenizer.sepID] }
            if ids.count <= limit { return ids }
            return Array(ids.prefix(limit - 1)) + [ids.last!]
        }
        // Longest first, so each group's sentences have similar lengths.
        let order = sequences.indices.sorted { sequences[$0].count > sequences[$1].count }
        var results = [[Float]](repeating: [], count: sequences.count)
        var start = 0
        while start < order.count {
            var end = start + 1
            var tokens = sequences[order[start]].count
            while end < order.count, end - start < maxBatch, tokens + sequences[order[end]].count <= Self.maxTokensPerPass {
                tokens += sequences[order[end]].count
                end += 1
            }
            let group = order[start..<end]
            let vectors = encoder.embed(group.map { sequences[$0] }, workers: threads)
            for (i, v) in zip(group, vectors) { results[i] = v }
            start = end
        }
        return results
    }
}
