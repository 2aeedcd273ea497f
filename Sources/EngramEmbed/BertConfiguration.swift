import EngramBase
import Foundation

/// The shape of a BERT encoder and its sentence-transformers pooling, read from a model folder.
public struct BertConfiguration: Sendable, Equatable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabularySize: Int
    public var layerNormEpsilon: Float
    /// Longest input in tokens including `[CLS]` and `[SEP]` (`max_seq_length`).
    public var maxSequenceLength: Int

    /// all-MiniLM-L6-v2's values.
    public static let miniLML6 = BertConfiguration(
        vocabularySize: 30522, hiddenSize: 384, layerCount: 6, headCount: 12, intermediateSize: 1536,
        maxPositions: 512, typeVocabularySize: 2, layerNormEpsilon: 1e-12, maxSequenceLength: 256)

    public init(vocabularySize: Int, hiddenSize: Int, layerCount: Int, headCount: Int, intermediateSize: Int,
                maxPositions: Int, typeVocabularySize: Int, layerNormEpsilon: Float, maxSequenceLength: Int) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon
        self.maxSequenceLength = maxSequenceLength
    }

    /// Size of one attention head.
    public var headSize: Int { hiddenSize / headCount }

    /// Reads `config.json`, and `sentence_bert_config.json` and `1_Pooling/config.json` when
    /// present, from `directory`. Rejects anything but a GELU BERT with mean pooling.
    /// - Throws: `EngramError`: `.notFound` (`missingModelFile`) without `config.json`,
    ///   `.dataLoss` (`invalidEmbeddingConfiguration`) for an unusable file, `.unimplemented`
    ///   (`unsupportedEmbeddingModel`) for another kind of model.
    public init(modelDirectory directory: URL) throws {
        let configURL = directory.appendingPathComponent("config.json")
        let json = try Self.readObject(configURL)
        let path = configURL.path
        /// A size: an integer in 1...Int32.max (sizes reach BLAS as 32-bit integers).
        func int(_ key: String) throws -> Int {
            guard let n = json[key].flatMap(exactInteger), n > 0, n <= Int(Int32.max) else {
                throw EngramError.invalidEmbeddingConfiguration(path: path, problem: "\"\(key)\" is missing or not a positive integer")
            }
            return n
        }
        if let type = json["model_type"] as? String, type != "bert" {
            throw EngramError.unsupportedEmbeddingModel(path: path, problem: "model_type is \(type), expected bert")
        }
        if let act = json["hidden_act"] as? String, act != "gelu" {
            throw EngramError.unsupportedEmbeddingModel(path: path, problem: "hidden_act is \(act), only gelu is supported")
        }
        if let kind = json["position_embedding_type"] as? String, kind != "absolute" {
            throw EngramError.unsupportedEmbeddingModel(path: path, problem: "position_embedding_type is \(kind), only absolute is supported")
        }
        self.init(
            vocabularySize: try int("vocab_size"), hiddenSize: try int("hidden_size"),
            layerCount: try int("num_hidden_layers"), headCount: try int("num_attention_heads"),
            intermediateSize: try int("intermediate_size"), maxPositions: try int("max_position_embeddings"),
            typeVocabularySize: try int("type_vocab_size"),
            layerNormEpsilon: (json["layer_norm_eps"] as? NSNumber)?.floatValue ?? 1e-12,
            maxSequenceLength: 0)
        guard layerNormEpsilon.isFinite, layerNormEpsilon > 0 else {
            throw EngramError.invalidEmbeddingConfiguration(path: path, problem: "layer_norm_eps \(layerNormEpsilon) is not a finite number > 0")
        }
        guard hiddenSize % headCount == 0 else {
            throw EngramError.invalidEmbeddingConfiguration(path: path, problem: "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(headCount)")
        }
        maxSequenceLength = min(WordPieceTokenizer.defaultMaxLength, maxPositions)
        let sbertURL = directory.appendingPathComponent("sentence_bert_config.json")
        if FileManager.default.fileExists(atPath: sbertURL.path) {
            let sbert = try Self.readObject(sbertURL)
            if let value = sbert["max_seq_length"], !(value is NSNull) {
                guard let n = exactInteger(value), n >= 2, n <= maxPositions else {
                    throw EngramError.invalidEmbeddingConfiguration(path: sbertURL.path, problem: "max_seq_length \(value) is not an integer in 2...\(maxPositions)")
                }
                maxSequenceLength = n
            }
        }
        let poolingURL = directory.appendingPathComponent("1_Pooling/config.json")
        if FileManager.default.fileExists(atPath: poolingURL.path) {
            let pooling = try Self.readObject(poolingURL)
            if let mean = pooling["pooling_mode_mean_tokens"] as? Bool, !mean {
                throw EngramError.unsupportedEmbeddingModel(path: poolingURL.path, problem: "only mean pooling is supported")
            }
        }
    }

    private static func readObject(_ url: URL) throws -> [String: Any] {
        guard FileManager.default.fileExists(atPath: url.path) else { throw EngramError.missingModelFile(path: url.path) }
        do {
            let data = try Data(contentsOf: url)
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw EngramError.invalidEmbeddingConfiguration(path: url.path, problem: "not a JSON object")
            }
            return object
        } catch let error as EngramError {
            throw error
        } catch {
            throw EngramError.invalidEmbeddingConfiguration(path: url.path, problem: "not valid JSON")
        }
    }
}
