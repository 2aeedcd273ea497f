import Engram
import Foundation
import Testing

/// A database written by format 1 (the version before the core rework) opens, reads the
/// same, and is migrated on its first write: vectors move out of the records, the bound
/// embedder moves from engram.toml into the database state, the full-text index is built
/// from the records, engram.toml is left as it was.
@Suite("Migration from format 1")
struct MigrationTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/format1")

    /// The fixture's export, by id, as JSON objects.
    static func records(_ jsonl: String) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for line in jsonl.split(separator: "\n") {
            if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let id = o["id"] as? String {
                out[id] = o
            }
        }
        return out
    }

    /// Compares two exports: every field equal, vectors equal as float32.
    static func sameRecords(_ a: [String: [String: Any]], _ b: [String: [String: Any]]) -> Bool {
        guard Set(a.keys) == Set(b.keys) else { return false }
        for (id, left) in a {
            guard let right = b[id] else { return false }
            var x = left, y = right
            let vx = (x.removeValue(forKey: "vector") as? [Double])?.map(Float.init)
            let vy = (y.removeValue(forKey: "vector") as? [Double])?.map(Float.init)
            guard vx == vy, NSDictionary(dictionary: x).isEqual(to: y) else { return false }
        }
        return true
    }

    @Test("a format-1 database reads the same before and after its migration")
    func migrate() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db")
            try FileManager.default.copyItem(at: Self.fixture.appendingPathComponent("db"), to: db)
            let toml = try Data(contentsOf: db.appendingPathComponent("engram.toml"))
            let expected = Self.records(try String(contentsOf: Self.fixture.appendingPathComponent("expected.jsonl"), encoding: .utf8))
            #expect(expected.count == 20)

            // Read-only, before any migration: the same records.
            let before = try CLI.run(["export", "--db", db.path])
            #expect(before.status == 0, "\(before.stderr)")
            #expect(Self.sameRecords(Self.records(before.stdout), expected))
            #expect(!FileManager.default.fileExists(atPath: db.appendingPathComponent("vectors.f32").path))

            // The first write migrates.
            let vector = (0..<384).map { i in i == 0 ? "1" : "0" }.joined(separator: ",")
            #expect(try CLI.run(["add", "--db", db.path, "--id", "new", "--vector", vector, "--time", "2026-01-01T00:00:00Z"]).status == 0)
            #expect(FileManager.default.fileExists(atPath: db.appendingPathComponent("vectors.f32").path))
            var after = Self.records(try CLI.run(["export", "--db", db.path]).stdout)
            #expect(after.removeValue(forKey: "new") != nil)
            #expect(Self.sameRecords(after, expected))
            #expect(try CLI.run(["check", "--db", db.path]).status == 0)
            // The full-text index holds every record (check verified it): a text query finds
            // the memory by its words; the stats count its documents.
            let text = try CLI.run(["query", "--db", db.path, "--mode", "text", "--json", "pump leaking in building 7"]).json
            #expect((text["results"] as? [[String: Any]])?.first?["id"] as? String == "note2", "\(text)")
            #expect((try CLI.run(["stats", "--db", db.path, "--json"]).json["text"] as? [String: Any])?["documents"] as? Int == 21)
            // engram.toml is the user's: not rewritten. The binding lives in the database now.
            #expect(try Data(contentsOf: db.appendingPathComponent("engram.toml")) == toml)
            #expect(try CLI.run(["stats", "--db", db.path, "--json"]).json["embedder"] as? String == "all-MiniLM-L6-v2")

            // The same query gives the same ranking and scores as format 1 gave.
            #expect(try CLI.run(["delete", "--db", db.path, "new"]).status == 0)
            let q = try String(contentsOf: Self.fixture.appendingPathComponent("query-vector.txt"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let got = try CLI.run(["query", "--db", db.path, "--vector", q, "--k", "5", "--now", "2023-11-20T00:00:00Z",
                                   "--w-time", "0.5", "--half-life", "1d", "--json"]).json["results"] as? [[String: Any]] ?? []
            let want = (try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixture.appendingPathComponent("expected-query.json")))
                as? [String: Any])?["results"] as? [[String: Any]] ?? []
            #expect(got.count == 5 && got.compactMap { $0["id"] as? String } == want.compactMap { $0["id"] as? String })
            for (g, w) in zip(got, want) {
                #expect(abs((g["score"] as? Double ?? 0) - (w["score"] as? Double ?? 1)) < 1e-6)
            }
        }
    }
}
