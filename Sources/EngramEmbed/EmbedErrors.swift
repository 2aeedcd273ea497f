import EngramBase

// The embedder throws `EngramError` with these codes:
//
// - `.notFound`: the model folder, or a file it needs, does not exist.
// - `.permissionDenied`, `.failedPrecondition`, `.unavailable`: a file exists but cannot be
//   opened or mapped (`unreadableModelFile`).
// - `.dataLoss`: a model file's contents are not valid (truncated, corrupt, inconsistent with
//   `config.json`). Model files are stored data: the remedy is to replace them, not to change
//   the request.
// - `.unimplemented`: a valid model the embedder does not run (not a GELU BERT with mean
//   pooling, a tensor type it cannot read).
// - `.invalidArgument`: a caller's argument is out of range.
//
// Reasons whose concept exists in another module as well carry the module's domain
// (`embeddingModelNotFound`), so that a file importing both modules can name either.
extension EngramError.Reason {
    /// The model folder was not found: an explicit path, `ENGRAM_EMBED_MODEL`, or the search.
    public static let embeddingModelNotFound = Self("EMBEDDING_MODEL_NOT_FOUND")
    /// A file the model needs is missing from its folder.
    public static let missingModelFile = Self("MISSING_MODEL_FILE")
    /// A model file exists but cannot be opened, read or mapped.
    public static let unreadableModelFile = Self("UNREADABLE_MODEL_FILE")
    /// A safetensors file is shorter than its header or its tensors say it must be.
    public static let truncatedSafeTensors = Self("TRUNCATED_SAFETENSORS")
    /// A safetensors header is not valid: bad length, bad JSON, overlapping or out-of-range data.
    public static let invalidSafeTensorsHeader = Self("INVALID_SAFETENSORS_HEADER")
    /// A tensor the model needs is absent from the weights file.
    public static let missingTensor = Self("MISSING_TENSOR")
    /// A tensor has a dtype the reader cannot convert to Float32.
    public static let unsupportedDType = Self("UNSUPPORTED_DTYPE")
    /// A tensor's shape does not match what the model configuration implies.
    public static let shapeMismatch = Self("SHAPE_MISMATCH")
    /// A model configuration (`config.json`, `tokenizer.json`, `vocab.txt`, …) is not usable.
    public static let invalidEmbeddingConfiguration = Self("INVALID_EMBEDDING_CONFIGURATION")
    /// A valid configuration of a model the embedder does not run.
    public static let unsupportedEmbeddingModel = Self("UNSUPPORTED_EMBEDDING_MODEL")
    /// A caller-supplied token id is outside the model's vocabulary.
    public static let embeddingTokenOutsideVocabulary = Self("EMBEDDING_TOKEN_OUTSIDE_VOCABULARY")
}

/// The errors of this module, each a complete sentence naming the file involved, what was
/// expected and what was found, and what to do.
extension EngramError {
    /// What to do about a missing or damaged model file.
    static let setupHint = "run \(EmbedderModelLocator.setupCommand) to download the model files"

    static func embeddingModelNotFound(searched: [String]) -> EngramError {
        EngramError(.notFound, "Embedding model all-MiniLM-L6-v2 not found (looked in: \(searched.joined(separator: ", "))); "
            + "\(setupHint), or set ENGRAM_EMBED_MODEL to the model folder.", reason: .embeddingModelNotFound)
    }

    static func missingModelFile(path: String) -> EngramError {
        EngramError(.notFound, "Model file missing: \(path); \(setupHint).", reason: .missingModelFile)
    }

    /// `code`: `.permissionDenied`, `.failedPrecondition` (not a regular file) or `.unavailable`.
    static func unreadableModelFile(path: String, problem: String, code: Code) -> EngramError {
        EngramError(code, "Cannot read model file \(path): \(problem).", reason: .unreadableModelFile)
    }

    static func truncatedSafeTensors(path: String, problem: String) -> EngramError {
        EngramError(.dataLoss, "Model file \(path) is truncated (\(problem)); delete it and \(setupHint).", reason: .truncatedSafeTensors)
    }

    static func invalidSafeTensorsHeader(path: String, problem: String) -> EngramError {
        EngramError(.dataLoss, "Model file \(path) has an invalid safetensors header: \(problem); delete it and \(setupHint).",
                    reason: .invalidSafeTensorsHeader)
    }

    static func missingTensor(name: String, path: String) -> EngramError {
        EngramError(.dataLoss, "Tensor '\(name)' is missing from \(path); is this a BERT/MiniLM safetensors file? \(setupHint).",
                    reason: .missingTensor)
    }

    static func unsupportedDType(name: String, dtype: String) -> EngramError {
        EngramError(.unimplemented, "Tensor '\(name)' has dtype \(dtype); only F32, F16 and BF16 weights are supported.",
                    reason: .unsupportedDType)
    }

    static func shapeMismatch(name: String, expected: [Int], found: [Int]) -> EngramError {
        EngramError(.dataLoss, "Tensor '\(name)' has shape \(found), expected \(expected); the weights do not match config.json.",
                    reason: .shapeMismatch)
    }

    /// `code` is `.dataLoss` for a file, `.invalidArgument` for a caller's value.
    static func invalidEmbeddingConfiguration(path: String, problem: String, code: Code = .dataLoss) -> EngramError {
        EngramError(code, "Model configuration \(path) is not usable: \(problem).", reason: .invalidEmbeddingConfiguration)
    }

    static func unsupportedEmbeddingModel(path: String, problem: String) -> EngramError {
        EngramError(.unimplemented, "Model configuration \(path) describes a model the embedder does not run: \(problem).",
                    reason: .unsupportedEmbeddingModel)
    }

    static func embeddingTokenOutsideVocabulary(_ id: Int32, vocabularySize: Int) -> EngramError {
        EngramError(.invalidArgument, "Token id \(id) is outside the vocabulary (0..<\(vocabularySize)); use the embedder's own tokenizer.",
                    reason: .embeddingTokenOutsideVocabulary)
    }
}
