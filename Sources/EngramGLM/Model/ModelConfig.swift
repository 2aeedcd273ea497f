import EngramBase

/// The transformer architectures the engine runs (llama.cpp's names).
public enum GLMArchitecture: String, Sendable {
    case llama, glm4, chatglm
}

/// Hyper-parameters read from a GGUF file's metadata.
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

    public init(file: GGUFFile) throws {
        guard let archName = file["general.architecture"]?.stringValue else {
            throw EngramError.invalidGGUF(file.path, "general.architecture is missing")
        }
        guard let arch = GLMArchitecture(rawValue: archName) else {
            throw EngramError.unsupportedGGUF(file.path, "architecture \(archName) is not supported (llama, glm4, chatglm are)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = file["\(archName).\(key)"]?.intValue, v > 0 else {
                throw EngramError.invalidGGUF(file.path, "\(archName).\(key) is missing or not a positive integer")
            }
            return v
        }
        architecture = arch
        embeddingLength = try int("embedding_length")
        blockCount = try int("block_count")
        feedForwardLength = try int("feed_forward_length")
        headCount = try int("attention.head_count")
        headCountKV = file["\(archName).attention.head_count_kv"]?.intValue ?? headCount
        guard headCountKV > 0, headCount % headCountKV == 0 else {
            throw EngramError.invalidGGUF(file.path, "head count \(headCount) is not a multiple of the KV head count \(headCountKV)")
        }
        headDim = file["\(archName).attention.key_length"]?.intValue ?? embeddingLength / headCount
        ropeDimensions = file["\(archName).rope.dimension_count"]?.intValue ?? headDim
        guard ropeDimensions <= headDim, ropeDimensions % 2 == 0 else {
            throw EngramError.invalidGGUF(file.path, "rope.dimension_count \(ropeDimensions) does not fit the head dimension \(headDim)")
        }
        ropeFreqBase = file["\(archName).rope.freq_base"]?.doubleValue ?? 10000
        rmsEpsilon = Float(file["\(archName).attention.layer_norm_rms_epsilon"]?.doubleValue ?? 1e-5)
        contextLength = file["\(archName).context_length"]?.intValue ?? 2048
    }

    public var kvDimension: Int { headCountKV * headDim }
    public var queryDimension: Int { headCount * headDim }
}
