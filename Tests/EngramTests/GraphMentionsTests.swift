import Engram
import EngramBase
import Foundation
import Testing

/// The graph of what memory texts mention (`[graph]` names and patterns), checked against a
/// recount made from what each text was built of, and `graphHops` retrieval against brute-force
/// scoring.
@Suite("Mentions in the graph and graph-aware retrieval")
struct GraphMentionsTests {
    static let graphSettings = """

        [graph]
        patterns = ["INC-\\\\d+ -> incident", "(?i)sensor (\\\\d+) -> sensors:$1"]
        [graph.names]
        "Pump 7" = "devices:7"
        "Valve 3" = "devices:3"
        "Alice" = "person"
        """

    /// Sentences a text is made of, with the entities each mentions.
    static let phrases: [(String, [String])] = [
        ("PUMP-7 was noisy", ["devices:7"]), ("valve 3 leaked", ["devices:3"]), ("Alice checked it", ["person:alice"]),
        ("see INC-12", ["incident:inc-12"]), ("Sensor 4 read high", ["sensors:4"]), ("the weather was fine", []),
        ("pumps were fine", []), ("sensor 9 went quiet", ["sensors:9"]),
    ]

    static let dimension = 8

    static func withDatabase(graph: String = graphSettings, _ body: (EngramDatabase, URL) async throws -> Void) async throws {
        try await withTempDirAsync { dir in
            var settings = StoreSettings()
            settings.sync = false
            settings.dimension = dimension
            let path = dir.appendingPathComponent("db")
            try EngramDatabase.create(at: path, settings: settings).close()
            let toml = path.appendingPathComponent("engram.toml")
            try (String(contentsOf: toml, encoding: .utf8) + graph).write(to: toml, atomically: true, encoding: .utf8)
            let db = try EngramDatabase.open(at: path)
            try await body(db, path)
            try db.close()
        }
    }

    /// Open edges of the graph: `memory → entity` mentions and `{a, b} → weight`.
    static func openEdges(_ db: EngramDatabase) throws -> (mentions: Set<String>, weights: [String: Double], closed: Int) {
        var mentions = Set<String>(), weights: [String: Double] = [:], closed = 0
        for e in try db.graphEdges() {
            if e.validTo != nil { closed += 1; continue }
            switch e.relation {
            case "MENTIONS": mentions.insert("\(e.from) \(e.to)")
            case "CO_OCCURS": weights["\(e.from) \(e.to)"] = e.weight
            default: Issue.record("unexpected relation \(e.relation)")
            }
        }
        return (mentions, weights, closed)
    }

    /// What the graph should hold for `texts` (memory id → the phrases of its text).
    static func recount(_ texts: [String: [Int]]) -> (mentions: Set<String>, weights: [String: Double]) {
        var mentions = Set<String>(), weights: [String: Double] = [:]
        for (id, parts) in texts {
            var entities: [String] = []
            for p in parts { for e in phrases[p].1 where !entities.contains(e) { entities.append(e) } }
            for e in entities { mentions.insert("\(id) \(e)") }
            for (i, a) in entities.enumerated() {
                for b in entities[(i + 1)...] { weights[a < b ? "\(a) \(b)" : "\(b) \(a)", default: 0] += 1 }
            }
        }
        return (mentions, weights)
    }

    static func vector(_ random: inout SeededRandom) -> [Float] {
        (0..<dimension).map { _ in Float.random(in: -1...1, using: &random) }
    }

    @Test("MENTIONS edges and co-occurrence weights equal a recount of the texts through upserts, edits and deletes; a replay and a reopen change nothing; changed names rebuild")
    func recounted() async throws {
        var random = SeededRandom(seed: testSeed("GraphMentionsTests.recounted"))
        try await Self.withDatabase { db, path in
            var texts: [String: [Int]] = [:]
            for round in 0..<6 {
                var batch: [MemoryInput] = []
                for _ in 0..<25 {
                    let id = "m\(Int.random(in: 0..<60, using: &random))"
                    let parts = (0..<Int.random(in: 1...3, using: &random)).map { _ in Int.random(in: 0..<Self.phrases.count, using: &random) }
                    texts[id] = parts
                    batch.removeAll { $0.id == id }
                    batch.append(MemoryInput(id: id, text: parts.map { Self.phrases[$0].0 }.joined(separator: ". "), vector: Self.vector(&random),
                                             time: Timestamp(1_780_000_000 + Double(round * 100))))
                }
                _ = try await db.upsert(UpsertRequest(memories: batch))
                let gone = texts.keys.sorted().filter { _ in Int.random(in: 0..<8, using: &random) == 0 }
                if !gone.isEmpty { _ = try db.delete(DeleteRequest(ids: gone)) }
                for id in gone { texts[id] = nil }
                let held = try Self.openEdges(db), expected = Self.recount(texts)
                #expect(held.mentions == expected.mentions, "round \(round)")
                #expect(held.weights == expected.weights, "round \(round)")
            }
            let before = try db.graphEdges()
            #expect(try Self.openEdges(db).closed > 0)
            // Following again finds nothing to do; a reopen leaves the graph as it was.
            #expect(try db.graphEdges() == before)
            try db.close()
            let reopened = try EngramDatabase.open(at: path)
            #expect(try reopened.graphEdges() == before)
            try reopened.close()
            // Without "Alice" among the names, every text is looked at again.
            let toml = path.appendingPathComponent("engram.toml")
            try String(contentsOf: toml, encoding: .utf8).replacingOccurrences(of: "\"Alice\" = \"person\"", with: "")
                .write(to: toml, atomically: true, encoding: .utf8)
            let changed = try EngramDatabase.open(at: path)
            defer { try? changed.close() }
            let held = try Self.openEdges(changed)
            let expected = Self.recount(texts.mapValues { $0.filter { $0 != 2 } })
            #expect(held.mentions == expected.mentions && held.weights == expected.weights)
            #expect(!held.mentions.contains { $0.hasSuffix("person:alice") })
        }
    }

    @Test("graphHops: each linked memory scores w_sim·(cosine + 0.25·0.5^distance) + w_time·recency; the top-k equals brute force")
    func graphHops() async throws {
        var random = SeededRandom(seed: testSeed("GraphMentionsTests.graphHops"))
        try await Self.withDatabase { db, _ in
            let now = 1_780_100_000.0
            var inputs: [MemoryInput] = []
            var parts: [String: [Int]] = [:]
            for i in 0..<300 {
                let p = (0..<Int.random(in: 1...2, using: &random)).map { _ in Int.random(in: 0..<Self.phrases.count, using: &random) }
                parts["m\(i)"] = p
                inputs.append(MemoryInput(id: "m\(i)", text: p.map { Self.phrases[$0].0 }.joined(separator: ". "), vector: Self.vector(&random),
                                          time: Timestamp(now - Double.random(in: 0...30 * 86_400, using: &random))))
            }
            _ = try await db.upsert(UpsertRequest(memories: inputs))
            let entities = parts.mapValues { Set($0.flatMap { Self.phrases[$0].1 }) }
            let times = Dictionary(uniqueKeysWithValues: inputs.map { ($0.id!, $0.time!.seconds) })
            let vectors = Dictionary(uniqueKeysWithValues: inputs.map { ($0.id!, $0.vector!) })
            let query = Self.vector(&random)
            func unit(_ v: [Float]) -> [Double] {
                let n = sqrt(v.reduce(0.0) { $0 + Double($1) * Double($1) })
                return v.map { Double($0) / n }
            }
            let q = unit(query)
            for hops in [1, 2] {
                // Distance 0: the memory mentions pump 7. Distance 1 (two hops): it mentions an
                // entity that some memory mentions together with pump 7.
                let seed = "devices:7"
                let near = Set(entities.values.filter { $0.contains(seed) }.flatMap { $0 }).subtracting([seed])
                var expected: [(id: String, score: Double)] = []
                for (id, v) in vectors {
                    var relevance = zip(unit(v), q).reduce(0) { $0 + $1.0 * $1.1 }
                    if entities[id]!.contains(seed) {
                        relevance += 0.25
                    } else if hops == 2 && !entities[id]!.isDisjoint(with: near) {
                        relevance += 0.125
                    }
                    expected.append((id, relevance + 0.5 * pow(0.5, (now - times[id]!) / (7 * 86_400))))
                }
                expected.sort { ($0.score, $1.id) > ($1.score, $0.id) }
                let response = try await db.query(QueryRequest(text: "what about pump 7?", vector: query, k: 20,
                                                                scoring: ScoringRequest(wSim: 1, wTime: 0.5, wImportance: 0, halfLife: TimeSpan(seconds: 7 * 86_400)),
                                                                now: Timestamp(now), idsOnly: true, mode: .vector, graphHops: hops))
                #expect(response.entities == [seed])
                #expect(response.results.map(\.id) == expected.prefix(20).map(\.id), "hops \(hops)")
                for (hit, e) in zip(response.results, expected) { #expect(abs(hit.score - e.score) < 1e-6, "hops \(hops) \(hit.id)") }
            }
            // Without graph hops, no graph term; hops outside 1…6 and a vector alone are refused.
            let plain = try await db.query(QueryRequest(text: "pump 7", vector: query, k: 5, idsOnly: true, mode: .vector))
            #expect(plain.results.allSatisfy { $0.graph == nil } && plain.entities == nil)
            for bad in [QueryRequest(text: "pump 7", vector: query, mode: .vector, graphHops: 7),
                        QueryRequest(vector: query, mode: .vector, graphHops: 1)] {
                await #expect { try await db.query(bad) } throws: { ($0 as? EngramError)?.code == .invalidArgument }
            }
        }
    }
}
