import Engram
import Foundation
import Testing

/// Text memories end to end through the real MiniLM model (Tools/setup-models.sh puts it in
/// Data/models/).
@Suite("Text memories end to end")
struct TextMemoryTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    init() throws {
        let model = Self.repoRoot.appendingPathComponent("Data/models/all-MiniLM-L6-v2/model.safetensors")
        try #require(FileManager.default.fileExists(atPath: model.path), "missing \(model.path): run Tools/setup-models.sh")
    }

    @Test("add, import and query by text; the database remembers its embedder")
    func textEndToEnd() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db").path
            try CLI.run(["init", "--db", db])
            #expect(try CLI.run(["add", "--db", db, "--id", "food", "A man is eating food."]).status == 0)
            let lines = [
                "{\"id\":\"bread\",\"text\":\"A man is eating a piece of bread.\"}",
                "{\"id\":\"baby\",\"text\":\"The girl is carrying a baby.\"}",
                "{\"id\":\"horse\",\"text\":\"A man is riding a horse.\",\"tags\":[\"animal\"]}",
            ]
            let file = dir.appendingPathComponent("texts.jsonl")
            try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: false, encoding: .utf8)
            let imported = try CLI.run(["import", "--db", db, file.path])
            #expect(imported.status == 0 && imported.stderr.contains("embedding"), "\(imported.stderr)")

            let q = try CLI.run(["query", "--db", db, "--k", "2", "--json", "Someone is having a meal."]).json
            let ids = (q["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            #expect(Set(ids) == ["food", "bread"], "\(ids)")
            let tagged = try CLI.run(["query", "--db", db, "--tag", "animal", "--json", "Someone is having a meal."]).json
            #expect((tagged["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["horse"])

            // The stored vector is the embedding of the text.
            let embedded = try CLI.run(["embed", "A man is eating food."])
            let vector = try JSONSerialization.jsonObject(with: Data(embedded.stdout.utf8)) as? [Double] ?? []
            #expect(vector.count == 384)
            let stored = try CLI.run(["get", "--db", db, "food", "--json"]).json["vector"] as? [Double] ?? []
            #expect(stored.count == 384 && zip(stored, vector).allSatisfy { abs($0 - $1) < 1e-5 })

            #expect(try CLI.run(["stats", "--db", db, "--json"]).json["embedder"] as? String == "all-MiniLM-L6-v2")
            // A database built with another embedder refuses this one.
            let other = dir.appendingPathComponent("other")
            let store = try MemoryStore.create(at: other, settings: StoreSettings(dimension: 384))
            try store.bindEmbedder("another-model", dimension: 384)
            try store.close()
            let refusedQuery = try CLI.run(["query", "--db", other.path, "some text"])
            #expect(refusedQuery.status != 0 && refusedQuery.stderr.contains("another-model"), "\(refusedQuery.stderr)")
            let refused = try CLI.run(["add", "--db", other.path, "more text"])
            #expect(refused.status != 0 && refused.stderr.contains("another-model"), "\(refused.stderr)")
        }
    }

    @Test("a text query on a database of another dimension is refused clearly")
    func dimensionMismatch() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db").path
            try CLI.run(["init", "--db", db, "--dim", "8"])
            let r = try CLI.run(["query", "--db", db, "hello"])
            #expect(r.status != 0 && r.stderr.contains("384") && r.stderr.contains("8"), "\(r.stderr)")
        }
    }
}
