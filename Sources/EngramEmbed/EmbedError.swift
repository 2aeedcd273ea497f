import Foundation

/// Everything that can go wrong while loading or running a sentence embedder.
///
/// Each case carries enough context for a user to act: the file involved, what was
/// expected and what was found. `description` renders a complete sentence.
public enum EmbedError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The model folder could not be found; the message says where Engram looked.
    case modelNotFound(searched: [String])
    /// A file the model needs is missing.
    case missingFile(path: String)
    /// A file exists but could not be read or mapped.
    case unreadableFile(path: String, reason: String)
    /// A safetensors file is shorter than its header or its tensors say it must be.
    case truncatedFile(path: String, reason: String)
    /// A safetensors header is not valid: bad length, bad JSON, overlapping or out-of-range data.
    case invalidHeader(path: String, reason: String)
    /// A tensor the model needs is absent from the weights file.
    case missingTensor(name: String, path: String)
    /// A tensor has a dtype the reader cannot convert to Float32.
    case unsupportedDType(name: String, dtype: String)
    /// A tensor's shape does not match what the model configuration implies.
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    /// A model configuration file (`config.json`, `tokenizer.json`, …) is not usable.
    case invalidConfiguration(path: String, reason: String)
    /// A caller-supplied token id is outside the model's vocabulary.
    case invalidTokenID(Int32, vocabularySize: Int)

    /// The command that downloads the model files.
    public static let setupHint = "run Tools/setup-models.sh to download the model files"

    public var description: String {
        switch self {
        case .modelNotFound(let searched):
            return "Embedding model all-MiniLM-L6-v2 not found (looked in: \(searched.joined(separator: ", "))); "
                + "\(Self.setupHint), or set ENGRAM_EMBED_MODEL to the model folder."
        case .missingFile(let path):
            return "Model file missing: \(path); \(Self.setupHint)."
        case .unreadableFile(let path, let reason):
            return "Cannot read model file \(path): \(reason)."
        case .truncatedFile(let path, let reason):
            return "Model file \(path) is truncated (\(reason)); delete it and \(Self.setupHint)."
        case .invalidHeader(let path, let reason):
            return "Model file \(path) has an invalid safetensors header: \(reason); delete it and \(Self.setupHint)."
        case .missingTensor(let name, let path):
            return "Tensor '\(name)' is missing from \(path); is this a BERT/MiniLM safetensors file? \(Self.setupHint)."
        case .unsupportedDType(let name, let dtype):
            return "Tensor '\(name)' has dtype \(dtype); only F32 and F16 weights are supported."
        case .shapeMismatch(let name, let expected, let found):
            return "Tensor '\(name)' has shape \(found), expected \(expected); the weights do not match config.json."
        case .invalidConfiguration(let path, let reason):
            return "Model configuration \(path) is not usable: \(reason)."
        case .invalidTokenID(let id, let size):
            return "Token id \(id) is outside the vocabulary (0..<\(size)); use the embedder's own tokenizer."
        }
    }
}

extension EmbedError: LocalizedError {
    public var errorDescription: String? { description }
}
