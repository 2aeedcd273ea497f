import EngramBase

// The GLM engine throws `EngramError` with these codes:
//
// - `.notFound`: the model file does not exist (`glmModelNotFound`).
// - `.permissionDenied`, `.failedPrecondition`, `.unavailable`: the file exists but cannot be
//   opened or mapped (`unreadableGGUF`).
// - `.dataLoss`: the file's bytes are not a valid model (truncated, corrupt, inconsistent).
//   A model file is stored data: the remedy is to replace the file, not to change the request.
// - `.unimplemented`: a valid file of a kind the engine does not run (`unsupportedGGUF`).
// - `.invalidArgument`: a caller's argument is out of range.
// - `.cancelled`: the caller cancelled a generation before it produced a result.
//
// Reasons whose concept exists in another module as well carry the module's name
// (`glmModelNotFound`), so that a file importing both modules can name either.
extension EngramError.Reason {
    /// No model file at the given path, or none found by `GLMModelLocator`.
    public static let glmModelNotFound = Self("GLM_MODEL_NOT_FOUND")
    /// The model file exists but cannot be opened, read or mapped.
    public static let unreadableGGUF = Self("UNREADABLE_GGUF")
    /// The file is not a valid GGUF model: bad header, truncated data, missing or misshapen tensors.
    public static let invalidGGUF = Self("INVALID_GGUF")
    /// A hyper-parameter in the file's metadata that is missing, out of range or inconsistent
    /// (head counts, widths, RoPE, context length, vocabulary size).
    public static let invalidHyperparameters = Self("INVALID_HYPERPARAMETERS")
    /// A valid GGUF file the engine cannot run: version, tensor type, architecture or tokenizer.
    public static let unsupportedGGUF = Self("UNSUPPORTED_GGUF")
    /// An empty prompt or batch of tokens.
    public static let emptyPrompt = Self("EMPTY_PROMPT")
    /// A token id outside the model's vocabulary.
    public static let tokenOutsideVocabulary = Self("TOKEN_OUTSIDE_VOCABULARY")
    /// More positions than the context holds.
    public static let contextOverflow = Self("CONTEXT_OVERFLOW")
    /// A sampling parameter out of range, or nothing to sample from.
    public static let invalidSampling = Self("INVALID_SAMPLING")
    /// A generation's `maxTokens` outside 1...the context size.
    public static let invalidMaxTokens = Self("INVALID_MAX_TOKENS")
    /// A kernel thread count outside 1...`GLMThreading.maximumThreadCount`.
    public static let invalidThreadCount = Self("INVALID_THREAD_COUNT")
    /// The system refused to start a kernel thread.
    public static let threadStartFailed = Self("THREAD_START_FAILED")
    /// A context size below 1.
    public static let invalidContextSize = Self("INVALID_CONTEXT_SIZE")
    /// The model produced NaN or infinite logits (damaged weights, as a rule).
    public static let nonFiniteLogits = Self("NON_FINITE_LOGITS")
    /// The consuming task was cancelled before the generation produced its result.
    public static let generationCancelled = Self("GENERATION_CANCELLED")
}

extension EngramError {
    /// `.dataLoss` / `invalidGGUF`: "invalid GGUF file PATH: what is wrong".
    static func invalidGGUF(_ path: String, _ problem: String) -> EngramError {
        EngramError(.dataLoss, """
            invalid GGUF file \(path): \(problem). The file is damaged or not a GGUF model: \
            download it again (\(GLMModelLocator.setupCommand) fetches the default model).
            """, reason: .invalidGGUF)
    }

    /// `.dataLoss` / `invalidHyperparameters`: "invalid model hyper-parameters in PATH: …".
    static func invalidHyperparameters(_ path: String, _ problem: String) -> EngramError {
        EngramError(.dataLoss, """
            invalid model hyper-parameters in \(path): \(problem). The file is damaged or was written wrongly: \
            download it again (\(GLMModelLocator.setupCommand) fetches the default model).
            """, reason: .invalidHyperparameters)
    }

    /// `.unimplemented` / `unsupportedGGUF`.
    static func unsupportedGGUF(_ path: String, _ problem: String) -> EngramError {
        EngramError(.unimplemented, "\(path): \(problem)", reason: .unsupportedGGUF)
    }
}
