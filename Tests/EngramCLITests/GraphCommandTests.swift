import Foundation
import Testing

/// `engram watch` and `engram graph` on the sample PostgreSQL change log (Data/ingest), with
/// its table mappings.
@Suite("engram graph")
struct GraphCommandTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Data/ingest")

    @Test("export as JSON lines and as dot as of a time, a path, and the refusals")
    func graphCommands() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db").path
            #expect(try CLI.run(["init", "--db", db]).status == 0)
            let toml = URL(fileURLWithPath: db).appendingPathComponent("engram.toml")
            try (String(contentsOf: toml, encoding: .utf8) + "\n" + String(contentsOf: Self.samples.appendingPathComponent("tables.toml"), encoding: .utf8))
                .write(to: toml, atomically: true, encoding: .utf8)
            let watched = try CLI.run(["watch", "--db", db, "--json", Self.samples.appendingPathComponent("wal2json-v2.jsonl").path])
            #expect(watched.status == 0, "\(watched.stderr)")
            let lines = try CLI.run(["graph", "export", "--db", db]).stdout.split(separator: "\n")
            #expect(lines.count == 5 && lines.allSatisfy { $0.hasPrefix("{") && $0.contains("\"validFrom\"") })
            let dot = try CLI.run(["graph", "export", "--db", db, "--format", "dot", "--as-of", "2026-05-29T02:00:00Z"])
            #expect(dot.stdout == """
                digraph engram {
                  "faults:1" -> "devices:1" [label="AFFECTS"];
                  "repairs:1" -> "devices:1" [label="ON"];
                  "repairs:1" -> "faults:1" [label="REPAIRS"];
                }

                """)
            let path = try CLI.run(["graph", "path", "--db", db, "devices:2", "repairs:1"])
            #expect(path.status == 0 && path.stdout == "faults:1 -AFFECTS-> devices:2\nrepairs:1 -REPAIRS-> faults:1\n", "\(path.stderr)")
            let none = try CLI.run(["graph", "path", "--db", db, "devices:2", "repairs:1", "--as-of", "2026-05-29T02:00:00Z"])
            #expect(none.status != 0 && none.stderr.contains("no chain"))
            let bad = try CLI.run(["graph", "entity", "--db", db, "devices:1", "--depth", "0"])
            #expect(bad.status != 0 && bad.stderr.contains("--depth"))
        }
    }
}
