import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
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

    @Test("GraphML export parses as XML with every edge; purge --before removes only the edges closed before it")
    func graphMLAndPurge() throws {
        try withTempDir { dir in
            let db = try Self.sampleDatabase(in: dir)
            let graphml = try CLI.run(["graph", "export", "--db", db, "--format", "graphml"])
            #expect(graphml.status == 0, "\(graphml.stderr)")
            let counter = ElementCounter()
            let parser = XMLParser(data: Data(graphml.stdout.utf8))
            parser.delegate = counter
            #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
            #expect(counter.counts["edge"] == 5 && counter.counts["node"] == 5)
            #expect(graphml.stdout.contains("<data key=\"validTo\">2026-05-29T01:26:40Z</data>"))
            // faults:2 -AFFECTS-> devices:2 closed at 01:26:40, faults:1 -AFFECTS-> devices:1 at 03:26:40.
            let purged = try CLI.run(["graph", "purge", "--db", db, "--before", "2026-05-29T02:00:00Z"])
            #expect(purged.status == 0 && purged.stdout == "removed 1 edge closed before 2026-05-29T02:00:00Z\n", "\(purged.stderr)")
            let left = try CLI.run(["graph", "export", "--db", db]).stdout.split(separator: "\n")
            #expect(left.count == 4 && !left.contains { $0.contains("\"faults:2\"") })
            // The reverse index lost it too: devices:2 had faults:2 then.
            let then = try CLI.run(["graph", "entity", "--db", db, "devices:2", "--as-of", "2026-05-28T23:13:20Z"])
            #expect(then.status == 0 && !then.stdout.contains("faults:2"), "\(then.stdout)")
            let bad = try CLI.run(["graph", "purge", "--db", db, "--before", "soon"])
            #expect(bad.status != 0 && bad.stderr.contains("--before"))
        }
    }

    @Test("query --graph-hops: the rows linked to the entity a question names join, with their graph term")
    func graphHops() throws {
        try withTempDir { dir in
            let db = try Self.sampleDatabase(in: dir, extra: "\n[graph.names]\n\"PUMP-7\" = \"devices:1\"\n")
            let found = try CLI.run(["query", "--db", db, "what happened to PUMP-7?", "--mode", "text", "--graph-hops", "2", "--k", "10", "--json"])
            #expect(found.status == 0, "\(found.stderr)")
            let response = try JSONSerialization.jsonObject(with: Data(found.stdout.utf8)) as? [String: Any]
            let results = response?["results"] as? [[String: Any]] ?? []
            let graph = Dictionary(uniqueKeysWithValues: results.compactMap { r in (r["graph"] as? Double).map { (r["id"] as! String, $0) } })
            // devices:1 itself and the repair ON it: distance 0; the fault the repair REPAIRS: 2.
            #expect(graph == ["devices:1": 0.25, "repairs:1": 0.25, "faults:1": 0.0625])
            #expect(response?["entities"] as? [String] == ["devices:1"])
            let bad = try CLI.run(["query", "--db", db, "pump", "--graph-hops", "7"])
            #expect(bad.status != 0 && bad.stderr.contains("--graph-hops"))
        }
    }

    /// A database with the sample's table mappings (and `extra` settings) after the wal2json log.
    static func sampleDatabase(in dir: URL, extra: String = "") throws -> String {
        let db = dir.appendingPathComponent("db").path
        #expect(try CLI.run(["init", "--db", db]).status == 0)
        let toml = URL(fileURLWithPath: db).appendingPathComponent("engram.toml")
        try (String(contentsOf: toml, encoding: .utf8) + "\n" + String(contentsOf: samples.appendingPathComponent("tables.toml"), encoding: .utf8) + extra)
            .write(to: toml, atomically: true, encoding: .utf8)
        let watched = try CLI.run(["watch", "--db", db, samples.appendingPathComponent("wal2json-v2.jsonl").path])
        #expect(watched.status == 0, "\(watched.stderr)")
        return db
    }
}

/// Counts the elements of an XML document by name.
final class ElementCounter: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        counts[name, default: 0] += 1
    }
}
