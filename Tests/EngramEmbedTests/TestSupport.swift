import EngramBase
import EngramEmbed
import Foundation
import Testing

/// Locations of the model files and reference outputs, found from this file's path.
enum Fixtures {
    /// The repository root (three levels above this file).
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// `$ENGRAM_MODELS/all-MiniLM-L6-v2` when `ENGRAM_MODELS` is set (as for the model
    /// locator), else this repository's `Data/models/all-MiniLM-L6-v2`.
    static let modelDirectory: URL = {
        if let dir = ProcessInfo.processInfo.environment["ENGRAM_MODELS"], !dir.isEmpty {
            return URL(fileURLWithPath: dir).appendingPathComponent("all-MiniLM-L6-v2")
        }
        return repositoryRoot.appendingPathComponent("Data/models/all-MiniLM-L6-v2")
    }()
    static let referenceDirectory = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/reference")

    struct MissingFixture: Error, CustomStringConvertible {
        let description: String
    }

    /// The model folder; fails (never skips) when the set-up has not been run.
    static func requireModel() throws -> URL {
        for name in ["model.safetensors", "tokenizer.json", "config.json"] {
            let path = modelDirectory.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else {
                throw MissingFixture(description: "\(path) is missing: run Tools/setup-models.sh before the tests")
            }
        }
        return modelDirectory
    }

    struct ReferenceCase: Sendable {
        let text: String
        let ids: [Int32]
        let tokens: [String]
        let embedding: [Float]
    }

    /// `minilm_reference.json` from the shared reference folder.
    static func referenceCases() throws -> [ReferenceCase] {
        let url = referenceDirectory.appendingPathComponent("minilm_reference.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MissingFixture(description: "\(url.path) is missing: the shared reference folder must sit beside the repository")
        }
        let array = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
        return try array.map { entry in
            ReferenceCase(
                text: try #require(entry["text"] as? String),
                ids: try #require(entry["ids"] as? [NSNumber]).map { Int32($0.intValue) },
                tokens: try #require(entry["tokens"] as? [String]),
                embedding: try #require(entry["embedding"] as? [NSNumber]).map(\.floatValue))
        }
    }

    /// One embedder shared by all tests (loading the weights takes a fraction of a second,
    /// but there is no reason to do it twenty times).
    static let sharedEmbedder: Result<MiniLMEmbedder, any Error> = Result {
        try MiniLMEmbedder(modelDirectory: try requireModel())
    }

    static func embedder() throws -> MiniLMEmbedder { try sharedEmbedder.get() }

    static func tokenizer() throws -> WordPieceTokenizer { try embedder().tokenizer }
}

func cosine(_ a: [Float], _ b: [Float]) -> Float {
    var dot: Float = 0, na: Float = 0, nb: Float = 0
    for (x, y) in zip(a, b) { dot += x * y; na += x * x; nb += y * y }
    return dot / (na.squareRoot() * nb.squareRoot())
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// The folder that holds every temporary directory of this test process; removed when the
/// process exits.
private let testRoot: URL = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("engram-embed-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    atexit {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("engram-embed-tests-\(getpid())")
        try? FileManager.default.removeItem(at: url)
    }
    return url
}()

/// A fresh empty temporary directory (under `testRoot`, so nothing is left behind).
func temporaryDirectory() throws -> URL {
    let url = testRoot.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        out.reserveCapacity(count)
        for element in self { out.append(try await transform(element)) }
        return out
    }
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
