import Foundation
import Testing

/// `engram ask` end to end with the real MiniLM embedder and SmolLM2 (Tools/setup-models.sh).
/// Retrieval, citations and the refusals are asserted exactly; the answer's wording only for
/// being there.
@Suite("engram ask")
struct AskCommandTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    init() throws {
        for model in ["all-MiniLM-L6-v2/model.safetensors", "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"] {
            let path = Self.repoRoot.appendingPathComponent("Data/models/" + model).path
            try #require(FileManager.default.fileExists(atPath: path), "missing \(path): run Tools/setup-models.sh")
        }
    }

    /// Dated facts, two of which supersede earlier ones.
    static let facts = [
        #"{"id":"office-berlin","text":"Our office is at Torstrasse 5 in Berlin.","time":"2026-01-10T09:00:00Z"}"#,
        #"{"id":"office-leipzig","text":"Our office moved to Karl-Liebknecht-Strasse 12 in Leipzig.","time":"2026-06-01T09:00:00Z"}"#,
        #"{"id":"price-old","text":"The team plan costs 10 euros a month.","time":"2026-02-01T09:00:00Z"}"#,
        #"{"id":"price-new","text":"The team plan now costs 14 euros a month.","time":"2026-07-01T09:00:00Z"}"#,
        #"{"id":"cat","text":"Miso the cat likes to sleep on the printer.","time":"2026-03-01T09:00:00Z"}"#,
    ]

    /// A new database in `dir` holding `facts`; its path.
    static func databaseOfFacts(in dir: URL) throws -> String {
        let db = dir.appendingPathComponent("db").path
        let file = dir.appendingPathComponent("facts.jsonl")
        try (facts.joined(separator: "\n") + "\n").write(to: file, atomically: false, encoding: .utf8)
        #expect(try CLI.run(["init", "--db", db]).status == 0)
        #expect(try CLI.run(["import", "--db", db, file.path]).status == 0)
        return db
    }

    static func ask(_ db: String, _ question: String, _ extra: [String] = []) throws -> CLI.Result {
        try CLI.run(["ask", "--db", db, "--json", "--temperature", "0", "--max-tokens", "40", "--threads", "2",
                     "--now", "2026-08-01T00:00:00Z"] + extra + [question])
    }

    @Test("time decay puts the newer fact first, --as-of sees only the older one, citations map to passages")
    func datedFacts() throws {
        try withTempDir { dir in
            let db = try Self.databaseOfFacts(in: dir)

            // Cosines 0.57 (Berlin) and 0.45 (Leipzig); recencies 0.10 and 0.50 at a 60-day half-life.
            let decayed = try Self.ask(db, "Where is the office?", ["--mode", "vector", "--w-time", "0.5", "--half-life", "60d", "--k", "3"])
            #expect(decayed.status == 0, "\(decayed.stderr)")
            let json = decayed.json
            let retrieved = (json["retrieved"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(retrieved.first == "office-leipzig", "\(retrieved)")
            #expect(retrieved.firstIndex(of: "office-leipzig")! < retrieved.firstIndex(of: "office-berlin") ?? Int.max)
            #expect(!((json["answer"] as? String) ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            #expect(json["model"] as? String == "SmolLM2-135M-Instruct.Q4_1" && json["cached"] as? Bool == false)
            // Every citation and every uncited source is a passage made from a retrieved memory.
            let cited = (json["citations"] as? [[String: Any]] ?? []) + (json["uncited"] as? [[String: Any]] ?? [])
            #expect(!cited.isEmpty)
            for source in cited { #expect(retrieved.contains(source["id"] as? String ?? "?")) }
            let numbers = cited.compactMap { $0["n"] as? Int }.sorted()
            #expect(numbers == Array(1...numbers.count))
            let usage = json["usage"] as? [String: Any] ?? [:]
            #expect((usage["promptTokens"] as? Int ?? 0) > 0 && (usage["completionTokens"] as? Int ?? 0) > 0)
            let timings = json["timings"] as? [String: Any] ?? [:]
            for key in ["retrieveMs", "prefillMs", "decodeMs"] { #expect(timings[key] is Double, "\(key)") }

            // Before the move only the Berlin office existed.
            let before = try Self.ask(db, "Where is the office?", ["--as-of", "2026-05-01T00:00:00Z", "--k", "3"]).json
            let earlier = (before["retrieved"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(earlier.contains("office-berlin") && !earlier.contains("office-leipzig") && !earlier.contains("price-new"), "\(earlier)")
        }
    }

    @Test("nothing to answer from: a plain refusal, unless --allow-no-context")
    func nothingToGoOn() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db").path
            #expect(try CLI.run(["init", "--db", db]).status == 0)
            let empty = try Self.ask(db, "Where is the office?")
            #expect(empty.status != 0 && empty.stderr.contains("nothing to answer from"), "\(empty.stderr)")
            let allowed = try Self.ask(db, "What is the capital of France?", ["--allow-no-context"])
            #expect(allowed.status == 0, "\(allowed.stderr)")
            #expect((allowed.json["citations"] as? [Any])?.isEmpty == true && (allowed.json["retrieved"] as? [Any])?.isEmpty == true)
            let bad = try CLI.run(["ask", "--db", db, "--passages", "0", "Where?"])
            #expect(bad.status != 0 && bad.stderr.contains("--passages"))
            for (option, value) in [("--k", "0"), ("--k", "101"), ("--context-tokens", "0"), ("--max-tokens", "0"), ("--temperature", "-1")] {
                let refused = try CLI.run(["ask", "--db", db, option, value, "Where?"])
                #expect(refused.status != 0 && refused.stderr.contains(option), "\(option) \(value): \(refused.stderr)")
            }
        }
    }

    @Test("feedback on an answer adjusts what it cited, once; get lists the adjustment; bad input is refused")
    func feedback() throws {
        try withTempDir { dir in
            let db = try Self.databaseOfFacts(in: dir)
            let asked = try Self.ask(db, "How much does the team plan cost?", ["--k", "3"])
            #expect(asked.status == 0, "\(asked.stderr)")
            let answerId = try #require(asked.json["answerId"] as? String)
            let cited = (asked.json["citations"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }

            let given = try CLI.run(["feedback", "--db", db, "--json", "--good", "--note", "clear", answerId])
            #expect(given.status == 0, "\(given.stderr)")
            let adjusted = (given.json["adjusted"] as? [[String: Any]] ?? [])
            #expect(adjusted.compactMap { $0["id"] as? String } == cited)
            for entry in adjusted {
                // Imported at importance 0: 0 + 0.2·(1 − 0) = 0.2.
                #expect(entry["from"] as? Double == 0 && entry["to"] as? Double == 0.2)
                let record = try CLI.run(["get", "--db", db, "--json", entry["id"] as! String]).json
                let history = record["importanceHistory"] as? [[String: Any]] ?? []
                #expect(history.count == 1 && history.first?["answerId"] as? String == answerId && history.first?["note"] as? String == "clear")
            }
            let again = try CLI.run(["feedback", "--db", db, "--bad", answerId])
            #expect(again.status != 0 && again.stderr.contains("already received feedback"), "\(again.stderr)")
            let unknown = try CLI.run(["feedback", "--db", db, "--good", String(repeating: "a", count: 24)])
            #expect(unknown.status != 0 && unknown.stderr.contains("no answer"), "\(unknown.stderr)")
            let keepBad = try CLI.run(["feedback", "--db", db, "--bad", "--keep-as-example", answerId])
            #expect(keepBad.status != 0 && keepBad.stderr.contains("--keep-as-example needs --good"), "\(keepBad.stderr)")
            let neither = try CLI.run(["feedback", "--db", db, answerId])
            #expect(neither.status != 0 && neither.stderr.contains("--good"), "\(neither.stderr)")
        }
    }
}
