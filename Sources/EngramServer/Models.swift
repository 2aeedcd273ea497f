import Engram
import EngramGLM
import Foundation
import Synchronization

/// The language model `RAG/Ask` answers with, loaded on the first question, and swapped for
/// another while serving (`Admin/ReloadModel`, SIGHUP).
///
/// A swap loads the new model beside the one serving and replaces it only once loaded; calls
/// in flight keep the generator they started with, which is freed when the last of them ends.
/// A model that fails to load leaves the old one serving.
///
/// Thread-safety: safe to share; loads (the first and every reload) happen one at a time, and
/// questions are answered meanwhile by the model serving (or wait for the first).
public final class Models: Sendable {
    /// The GGUF file (nil: found as `engram ask` finds it: $ENGRAM_GLM_MODEL, then Data/models).
    let path: String?
    let threads: Int
    private let serving = Mutex<Loaded?>(nil)
    /// Held while a model loads.
    private let loading = Mutex<Void>(())

    private struct Loaded: Sendable {
        var file: String
        var loadedAt: Timestamp
        var generator: GLMTextGenerator
    }

    public init(path: String?, threads: Int = GLMThreading.defaultThreadCount) {
        self.path = path
        self.threads = threads
    }

    /// The file of the model serving; nil before the first question.
    public var servingFile: String? { serving.withLock { $0?.file } }

    /// When the model serving was loaded.
    public var loadedAt: Timestamp? { serving.withLock { $0?.loadedAt } }

    /// The generator of the model serving, loading the model if none is loaded yet.
    /// - Throws: `EngramError` `.notFound` when there is no model file; the engine's errors.
    func generator() throws -> GLMTextGenerator {
        if let loaded = serving.withLock({ $0 }) { return loaded.generator }
        return try loading.withLock { _ in
            if let loaded = serving.withLock({ $0 }) { return loaded.generator }
            let loaded = try load(path)
            serving.withLock { $0 = loaded }
            return loaded.generator
        }
    }

    /// Loads `file` (default: the file serving, read again, else the configured model) and
    /// makes it the model serving.
    /// - Throws: `EngramError` `.notFound` for a missing file, the engine's errors for a file
    ///   that is not a model it can run; the model serving stays.
    public func reload(_ file: String?) throws -> ReloadModelResponse {
        try loading.withLock { _ in
            let started = DispatchTime.now().uptimeNanoseconds
            let loaded = try load(file ?? servingFile ?? path)
            let previous = serving.withLock { serving in
                defer { serving = loaded }
                return serving?.file
            }
            return ReloadModelResponse(model: loaded.file, previous: previous,
                                       loadMs: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
        }
    }

    private func load(_ explicit: String?) throws -> Loaded {
        let file = try GLMModelLocator.resolve(explicit: explicit)
        let generator = GLMTextGenerator(try GLMGenerator(model: GLMModel(path: file), threads: threads))
        return Loaded(file: file, loadedAt: Timestamp(Date().timeIntervalSince1970), generator: generator)
    }
}

