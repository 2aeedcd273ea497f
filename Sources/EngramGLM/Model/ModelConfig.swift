import EngramBase

/// The transformer architectures the engine runs (llama.cpp's names).
public enum GLMArchitecture: String, Sendable {
    case llama, glm4, chatglm
}

/// Hyper-parameters read from a GGUF file's metadata (`ARCH.key`, llama.cpp's names).
///
/// Checked when read: every count and width is a positive integer within the limits below,
/// the KV heads divide the heads, RoPE rotates an even number of dimensions within the head,
/// the RoPE base and the RMS epsilon are finite and positive. The tensors' shapes are
/// checked against these values when the weights load (`GLMModel`).
public struct GLMModelConfig: Sendable {
    public let architecture: GLMArchitecture
    public let embeddingLength: Int
    public let blockCount: Int
    public let feedForwardLength: Int
    public let headCount: Int
    public let headCountKV: Int
    public let headDim: Int
    /// Dimensions of each head that RoPE rotates (half the head for GLM).
    public let ropeDimensions: Int
    public let ropeFreqBase: Double
    public let rmsEpsilon: Float
    public let contextLength: Int

    /// Largest width accepted: embedding, feed-forward, head, and all query or key/value heads
    /// together (2^20). Keeps products of sizes far from overflow and within BLAS's 32-bit
    /// arguments.
    public static let maximumDimension = 1 << 20
    /// Most transformer blocks accepted (1,024; large models have about 100).
    public static let maximumBlockCount = 1 << 10
    /// Longest context accepted (2^24 positions).
    public static let maximumContextLength = 1 << 24
    /// Largest vocabulary accepted (2^24 tokens; token ids are 32-bit).
    public static let maximumVocabularySize = 1 << 24

    /// Context length of a file that does not give one.
    public static let defaultContextLength = 2048

    /// - Throws: `EngramError` `.dataLoss`: `invalidGGUF` without `general.architecture`,
    ///   `invalidHyperparameters` for a value that is missing, not a number or out of range;
    ///   `.unimplemented` (`unsupportedGGUF`) for another architecture, or keys and values of
    ///   different widths.
    public init(file: GGUFFile) throws {
        guard let archName = file["general.architecture"]?.stringValue else {
            throw EngramError.invalidGGUF(file.path, "general.architecture is missing")
        }
        guard let arch = GLMArchitecture(rawValue: archName) else {
            throw EngramError.unsupportedGGUF(file.path, "architecture \(archName) is not supported (llama, glm4, chatglm are)")
        }
        func bad(_ problem: String) -> EngramError { EngramError.invalidHyperparameters(file.path, problem) }
        /// The integer `ARCH.key` (`fallback` when absent), which must lie in `range`.
        func int(_ key: String, _ range: ClosedRange<Int>, fallback: Int? = nil) throws -> Int {
            let name = "\(archName).\(key)"
            guard let value = file[name] else {
                guard let fallback else { throw bad("\(name) is missing") }
                guard range.contains(fallback) else {
                    throw bad("\(name) is missing, and its default \(fallback) is outside \(range.lowerBound)...\(range.upperBound)")
                }
                return fallback
            }
            guard let v = value.intValue, range.contains(v) else {
                throw bad("\(name) is \(value), expected an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
        /// The number `ARCH.key` (`fallback` when absent), which must be finite and positive.
        func positive(_ key: String, fallback: Double) throws -> Double {
            let name = "\(archName).\(key)"
            guard let value = file[name] else { return fallback }
            guard let v = value.doubleValue, v.isFinite, v > 0 else {
                throw bad("\(name) is \(value), expected a finite number > 0")
            }
            return v
        }
        let widths = 1...GLMModelConfig.maximumDimension
        architecture = arch
        embeddingLength = try int("embedding_length", widths)
        blockCount = try int("block_count", 1...GLMModelConfig.maximumBlockCount)
        feedForwardLength = try int("feed_forward_length", widths)
        headCount = try int("attention.head_count", widths)
        headCountKV = try int("attention.head_count_kv", 1...headCount, fallback: headCount)
        guard headCount % headCountKV == 0 else {
            throw bad("head count \(headCount) is not a multiple of the KV head count \(headCountKV)")
        }
        headDim = try int("attention.key_length", widths, fallback: embeddingLength / headCount)
        let valueLength = try int("attention.value_length", widths, fallback: headDim)
        guard valueLength == headDim else {
            throw EngramError.unsupportedGGUF(file.path, "value heads of \(valueLength) dimensions and key heads of \(headDim) are not supported")
        }
        // headCount and headDim are at most 2^20: the product cannot overflow.
        guard headCount * headDim <= GLMModelConfig.maximumDimension else {
            throw bad("\(headCount) heads of \(headDim) dimensions exceed \(GLMModelConfig.maximumDimension) query dimensions")
        }
        ropeDimensions = try int("rope.dimension_count", 1...headDim, fallback: headDim)
        guard ropeDimensions % 2 == 0 else {
            throw bad("\(archName).rope.dimension_count \(ropeDimensions) is odd: RoPE rotates pairs of dimensions")
        }
        ropeFreqBase = try positive("rope.freq_base", fallback: 10000)
        let epsilon = Float(try positive("attention.layer_norm_rms_epsilon", fallback: 1e-5))
        guard epsilon > 0, epsilon.isFinite else {
            throw bad("\(archName).attention.layer_norm_rms_epsilon \(epsilon) is not a positive 32-bit float")
        }
        rmsEpsilon = epsilon
        contextLength = try int("context_length", 1...GLMModelConfig.maximumContextLength,
                                fallback: GLMModelConfig.defaultContextLength)
    }

    public var kvDimension: Int { headCountKV * headDim }
    public var queryDimension: Int { headCount * headDim }
}
