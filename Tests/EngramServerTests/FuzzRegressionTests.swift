import EngramServer
import Foundation
import Testing

/// Every input of the committed fuzzing corpus, and every crash a fuzzing run found (kept in
/// `Fixtures/fuzz/crashes` once fixed), through the fuzzed code.
@Suite("Socket API: the fuzzing corpus and its crashes replayed")
struct FuzzRegressionTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz")

    static func inputs(_ folder: String) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: fixtures.appendingPathComponent(folder), includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }

    @Test("each input of the corpus and of the crashes runs through the frame and request decoders without a crash")
    func replay() throws {
        let corpus = try Self.inputs("corpus"), crashes = try Self.inputs("crashes")
        #expect(corpus.count >= 11)
        for input in corpus + crashes {
            FuzzTarget.exercise([UInt8](try Data(contentsOf: input)))
        }
    }
}
