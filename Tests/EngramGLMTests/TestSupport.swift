import EngramBase
import EngramGLM
import Foundation
import Testing

/// Locations of the reference outputs and the real model, derived from this file's path.
enum TestFiles {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let referenceDir = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/reference/glm")
    /// The models folder: `$ENGRAM_MODELS` when set (as for the model locators), else this
    /// repository's `Data/models`.
    static let modelsDir: URL = {
        if let dir = ProcessInfo.processInfo.environment["ENGRAM_MODELS"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        return repoRoot.appendingPathComponent("Data/models")
    }()
    static let smolLM2 = modelsDir.appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")

    /// The path of a reference file; records a failure naming the set-up when it is missing.
    static func reference(_ name: String) throws -> String {
        let url = referenceDir.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TestFileMissing(message: "reference file \(url.path) is missing: the shared reference folder must sit beside the repository (see Tools/setup-models.sh and ../shared/reference/README.md)")
        }
        return url.path
    }

    /// The SmolLM2 model path, or an error telling to run `Tools/setup-models.sh`.
    static func smolLM2Path() throws -> String {
        guard FileManager.default.fileExists(atPath: smolLM2.path) else {
            throw TestFileMissing(message: "model \(smolLM2.path) is missing: run Tools/setup-models.sh")
        }
        return smolLM2.path
    }

    static func json(_ name: String) throws -> Any {
        let data = try Data(contentsOf: URL(fileURLWithPath: try reference(name)))
        return try JSONSerialization.jsonObject(with: data)
    }
}

struct TestFileMissing: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The real SmolLM2 model, loaded once for all tests that use it.
enum SharedModels {
    static let smolLM2: Result<GLMModel, Error> = Result { try GLMModel(path: TestFiles.smolLM2Path()) }
    static func smol() throws -> GLMModel { try smolLM2.get() }
}

/// Runs `body` and expects it to throw an `EngramError` with `code` and `reason`; returns the
/// error (nil, with an issue recorded, when it threw nothing or something else).
@discardableResult
func expectError<T>(_ code: EngramError.Code, _ reason: EngramError.Reason, _ comment: Comment? = nil,
                    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T) -> EngramError? {
    do {
        _ = try body()
        Issue.record("expected \(code) \(reason), but nothing was thrown. \(comment?.description ?? "")", sourceLocation: sourceLocation)
    } catch let error as EngramError {
        #expect(error.code == code && error.reason == reason, "got \(error.code) \(error.reason): \(error.message). \(comment?.description ?? "")",
                sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(code) \(reason), got \(error). \(comment?.description ?? "")", sourceLocation: sourceLocation)
    }
    return nil
}
