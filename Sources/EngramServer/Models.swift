import Engram
import EngramGLM
import Foundation
import Synchronization

/// The language model `RAG/Ask` answers with, loaded on the first question.
///
/// Thread-safety: safe to share; the model is loaded once (callers meanwhile wait), and a
/// generator serialises its generations.
public final class Models: Sendable {
    /// The GGUF file (nil: found as `engram ask` finds it: $ENGRAM_GLM_MODEL, then Data/models).
    let path: String?
    let threads: Int
    private let loaded = Mutex<GLMTextGenerator?>(nil)

    public init(path: String?, threads: Int = GLMThreading.defaultThreadCount) {
        self.path = path
        self.threads = threads
    }

    /// The generator, loading the model if it is not loaded yet.
    /// - Throws: `EngramError` `.notFound` when there is no model file; the engine's errors.
    func generator() throws -> GLMTextGenerator {
        try loaded.withLock { loaded in
            if let loaded { return loaded }
            let file = try GLMModelLocator.resolve(explicit: path)
            let generator = GLMTextGenerator(try GLMGenerator(model: GLMModel(path: file), threads: threads))
            loaded = generator
            return generator
        }
    }
}

/// A message of `RAG/Ask`'s stream: a piece of the answer as it is generated
/// (`{"text"}`), then the whole answer with its sources (`{"response": AskResponse}`).
public struct AskStreamMessage: Codable, Sendable, Equatable {
    public var text: String?
    public var response: AskResponse?
}
