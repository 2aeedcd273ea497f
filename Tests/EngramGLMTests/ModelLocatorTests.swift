import EngramBase
import EngramGLM
import Foundation
import Testing

struct ModelLocatorTests {
    static func tempDir() throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("engram-glm-locator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func touch(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data([1]).write(to: url)
    }

    @Test("explicit path, then ENGRAM_GLM_MODEL, then ENGRAM_MODELS, then Data/models upward")
    func resolutionOrder() throws {
        let root = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let explicit = root.appendingPathComponent("a.gguf"), env = root.appendingPathComponent("b.gguf")
        let models = root.appendingPathComponent("models")
        let modelsFile = models.appendingPathComponent(GLMModelLocator.defaultRelativePath)
        let repo = root.appendingPathComponent("repo")
        let repoFile = repo.appendingPathComponent("Data/models").appendingPathComponent(GLMModelLocator.defaultRelativePath)
        for f in [explicit, env, modelsFile, repoFile] { try Self.touch(f) }
        let deep = repo.appendingPathComponent("x/y")
        try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true)

        let all = ["ENGRAM_GLM_MODEL": env.path, "ENGRAM_MODELS": models.path]
        #expect(try GLMModelLocator.resolve(explicit: explicit.path, environment: all, currentDirectory: deep.path, executablePath: nil) == explicit.path)
        #expect(try GLMModelLocator.resolve(environment: all, currentDirectory: deep.path, executablePath: nil) == env.path)
        #expect(try GLMModelLocator.resolve(environment: ["ENGRAM_MODELS": models.path], currentDirectory: deep.path, executablePath: nil) == modelsFile.path)
        let found = try GLMModelLocator.resolve(environment: [:], currentDirectory: deep.path, executablePath: nil)
        #expect(URL(fileURLWithPath: found).standardizedFileURL.path == repoFile.standardizedFileURL.path)
    }

    @Test("a missing model is an error naming the set-up script")
    func missing() throws {
        let root = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let none = expectError(.notFound, .glmModelNotFound) {
            try GLMModelLocator.resolve(environment: [:], currentDirectory: root.path, executablePath: nil)
        }
        #expect(none?.message.contains("Tools/setup-models.sh") == true)
        let explicit = root.appendingPathComponent("nope.gguf").path
        let missing = expectError(.notFound, .glmModelNotFound) {
            try GLMModelLocator.resolve(explicit: explicit, environment: [:], currentDirectory: root.path, executablePath: nil)
        }
        #expect(missing?.message.contains(explicit) == true)
        expectError(.notFound, .glmModelNotFound) {
            try GLMModelLocator.resolve(environment: ["ENGRAM_GLM_MODEL": explicit], currentDirectory: root.path, executablePath: nil)
        }
    }
}
