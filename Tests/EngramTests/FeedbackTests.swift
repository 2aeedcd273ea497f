import Engram
import EngramBase
import EngramGLM
import EngramTestSupport
import Foundation
import Testing

/// Feedback on answers and worked examples, through the facade with the real MiniLM
/// embedder. The feedback tests answer with a scripted generator, so that what an answer
/// cites is known; the examples test with the real SmolLM2 model.
@Suite("Feedback and worked examples of ask")
struct FeedbackTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let templates = try! PromptTemplates(directory: repoRoot.appendingPathComponent("Data/prompts"))
    static let model = repoRoot.appendingPathComponent("Data/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let now = Timestamp(1_785_542_400)  // 2026-08-01

    static func database(_ toml: String = "") throws -> (EngramDatabase, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-feedback-\(UUID().uuidString)")
        var settings = StoreSettings()
        settings.sync = false
        let db = try EngramDatabase.create(at: dir, settings: settings)
        guard !toml.isEmpty else { return (db, dir) }
        try db.close()
        let file = dir.appendingPathComponent("engram.toml")
        try (String(contentsOf: file, encoding: .utf8) + "\n" + toml + "\n").write(to: file, atomically: true, encoding: .utf8)
        return (try EngramDatabase.open(at: dir), dir)
    }

    static func add(_ db: EngramDatabase, _ memories: [(String, String)], importance: Double = 0.5, namespace: String? = nil) async throws {
        _ = try await db.upsert(UpsertRequest(memories: memories.map {
            MemoryInput(id: $0.0, text: $0.1, namespace: namespace, time: Timestamp(1_780_000_000), importance: importance)
        }))
    }

    static let facts = [
        ("report-a", "The quarterly report is due on the third of March."),
        ("report-b", "Finance wants the quarterly numbers before the board meeting in March."),
    ]

    static func ranking(_ db: EngramDatabase, _ question: String) async throws -> [String] {
        try await db.query(QueryRequest(text: question, k: 2, scoring: ScoringRequest(wSim: 1, wTime: 0, wImportance: 10),
                                        now: now, mode: .vector)).results.map(\.id)
    }

    @Test("good feedback raises the importance of what the answer cited by the documented rule, get lists it, and a later ranking changes")
    func goodFeedback() async throws {
        let (db, dir) = try Self.database()
        defer { try? FileManager.default.removeItem(at: dir) }
        try await Self.add(db, Self.facts)
        let question = "When is the quarterly report due?"
        let before = try await Self.ranking(db, question)
        #expect(Set(before) == ["report-a", "report-b"])
        // The answer cites the passage that ranked second.
        var request = AskRequest(question: question, k: 2, passages: 2, now: Self.now, mode: .vector)
        request.scoring = ScoringRequest(wSim: 1, wTime: 0, wImportance: 0)
        let answer = try await db.ask(request, generator: ScriptedGenerator(reply: "It is due then [2]."), templates: Self.templates)
        let cited = try #require(answer.citations.first).id
        #expect(answer.citations.count == 1 && cited == before[1])

        let response = try await db.feedback(FeedbackRequest(answerId: answer.answerId, verdict: .good, note: "right"))
        // 0.5 + 0.2·(1 − 0.5) = 0.6, the other memory untouched.
        #expect(response.adjusted == [FeedbackResponse.Adjusted(id: cited, from: 0.5, to: 0.6)] && response.missing.isEmpty)
        let record = try db.get(GetRequest(id: cited))
        #expect(abs(record.importance - 0.6) < 1e-12)
        let history = try #require(record.importanceHistory)
        #expect(history.count == 1 && history[0].answerId == answer.answerId && history[0].verdict == .good)
        #expect(history[0].from == 0.5 && history[0].to == 0.6 && history[0].note == "right")
        #expect(try db.get(GetRequest(id: before[0])).importance == 0.5)
        #expect(try db.get(GetRequest(id: before[0])).importanceHistory == nil)
        // With importance weighted 10 (0.1 × 10 = 1 ≥ any cosine gap of two relevant texts),
        // the memory that ranked second now ranks first.
        #expect(try await Self.ranking(db, question) == [before[1], before[0]])

        // One feedback per answer.
        await #expect { try await db.feedback(FeedbackRequest(answerId: answer.answerId, verdict: .bad)) } throws: {
            ($0 as? EngramError)?.reason == .feedbackGiven
        }
        // Bad feedback on a second answer: 0.6 − 0.2·0.6 = 0.48, both moves listed in order.
        request.cache = false
        let second = try await db.ask(request, generator: ScriptedGenerator(reply: "No [2]."), templates: Self.templates)
        #expect(second.citations.map(\.id) == [cited])
        _ = try await db.feedback(FeedbackRequest(answerId: second.answerId, verdict: .bad))
        let after = try db.get(GetRequest(id: cited))
        #expect(abs(after.importance - 0.48) < 1e-12)
        #expect(after.importanceHistory?.map(\.answerId) == [answer.answerId, second.answerId])
        try db.close()
    }

    @Test("feedback refuses a malformed or unknown answer id, a bad answer kept as example, and a read-only database")
    func refused() async throws {
        let (db, dir) = try Self.database()
        defer { try? FileManager.default.removeItem(at: dir) }
        await #expect { try await db.feedback(FeedbackRequest(answerId: "nope", verdict: .good)) } throws: {
            ($0 as? EngramError)?.code == .invalidArgument && "\($0)".contains("not an answer id")
        }
        await #expect { try await db.feedback(FeedbackRequest(answerId: String(repeating: "0", count: 24), verdict: .good)) } throws: {
            ($0 as? EngramError)?.code == .notFound
        }
        try await Self.add(db, Self.facts)
        let answer = try await db.ask(AskRequest(question: "When is the report due?", k: 2, now: Self.now),
                                      generator: ScriptedGenerator(reply: "Soon [1]."), templates: Self.templates)
        await #expect { try await db.feedback(FeedbackRequest(answerId: answer.answerId, verdict: .bad, keepAsExample: true)) } throws: {
            ($0 as? EngramError)?.code == .invalidArgument && "\($0)".contains("only a good answer")
        }
        let note = String(repeating: "x", count: FeedbackRequest.maxNoteBytes + 1)
        await #expect { try await db.feedback(FeedbackRequest(answerId: answer.answerId, verdict: .good, note: note)) } throws: {
            ($0 as? EngramError)?.code == .invalidArgument && "\($0)".contains("note")
        }
        try db.close()
        let reader = try EngramDatabase.open(at: dir, readOnly: true)
        await #expect { try await reader.feedback(FeedbackRequest(answerId: answer.answerId, verdict: .good)) } throws: {
            ($0 as? EngramError)?.reason == .readOnly
        }
        try reader.close()
    }

    @Test("a deleted memory's importance history goes with it; a replaced one keeps it")
    func historyFollowsDeletes() async throws {
        let (db, dir) = try Self.database()
        defer { try? FileManager.default.removeItem(at: dir) }
        try await Self.add(db, Self.facts)
        let answer = try await db.ask(AskRequest(question: "When is the quarterly report due?", k: 2, passages: 2, now: Self.now),
                                      generator: ScriptedGenerator(reply: "Then [1][2]."), templates: Self.templates)
        #expect(Set(answer.citations.map(\.id)) == ["report-a", "report-b"])
        _ = try await db.feedback(FeedbackRequest(answerId: answer.answerId, verdict: .good))
        _ = try db.delete(DeleteRequest(ids: ["report-a"]))
        try await Self.add(db, [("report-b", "The quarterly report goes to the board.")], importance: 0.9)
        try db.close()
        let reopened = try EngramDatabase.open(at: dir)
        var keys: [String] = []
        try reopened.store.scan("importance_history", prefix: []) { key, _ in
            keys.append(String(decoding: key.prefix { $0 != 0 }, as: UTF8.self))
            return true
        }
        #expect(keys == ["report-b"])
        let kept = try reopened.get(GetRequest(id: "report-b"))
        #expect(kept.importance == 0.9 && kept.importanceHistory?.map(\.to) == [0.6])
        try reopened.close()
    }

    @Test("a good answer kept as an example becomes a worked example, left out of retrieval, shown to a similar question only")
    func keptExample() async throws {
        let (db, dir) = try Self.database("[ask]\nexamples = 1")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await Self.add(db, Self.facts + [("cat", "Miso the cat sleeps on the printer every afternoon.")])
        let generator = ScriptedGenerator(reply: "On the third of March [2].")
        var request = AskRequest(question: "When is the quarterly report due?", k: 3, passages: 2, now: Self.now, mode: .vector)
        request.scoring = ScoringRequest(wSim: 1, wTime: 0, wImportance: 0)
        let answer = try await db.ask(request, generator: generator, templates: Self.templates)
        #expect(answer.examples.isEmpty)
        let cited = try #require(answer.citations.first)
        let kept = try await db.feedback(FeedbackRequest(answerId: answer.answerId, verdict: .good, keepAsExample: true))
        let exampleId = try #require(kept.exampleId)
        let example = try db.get(GetRequest(id: exampleId))
        #expect(example.namespace == "examples")
        // The example shows only the cited passage, numbered 1 and dated with its year, and the
        // answer renumbered.
        #expect(example.text == """
            Sources:
            [1] (28 May 2026) \(cited.text)

            Question: When is the quarterly report due?
            Answer: On the third of March [1].
            """)

        // A similar question is shown the example; it is not among the sources.
        request.question = "By which date must the quarterly report be in?"
        let similar = try await db.ask(request, generator: generator, templates: Self.templates)
        #expect(similar.examples == [exampleId])
        #expect(!similar.retrieved.map(\.id).contains(exampleId))
        let turns = try #require(generator.prompts.withLock { $0.last })
        #expect(turns.map(\.role) == [.system, .user, .assistant, .user])
        #expect(turns[1].content.contains("[1] (28 May 2026) \(cited.text)\n\nQuestion: When is the quarterly report due?"))
        #expect(turns[2].content == "On the third of March [1].")
        // Asking in the examples namespace by name retrieves it.
        var inExamples = request
        inExamples.filter = FilterRequest(namespace: "examples")
        inExamples.cache = false
        let named = try await db.ask(inExamples, generator: generator, templates: Self.templates)
        #expect(named.retrieved.map(\.id) == [exampleId])
        try db.close()
    }

    @Test("few-shot examples are chosen by meaning, with the real SmolLM2 model")
    func examplesByMeaning() async throws {
        try #require(FileManager.default.fileExists(atPath: Self.model), "missing \(Self.model): run Tools/setup-models.sh")
        let (db, dir) = try Self.database("[ask]\nexamples = 1")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await Self.add(db, Self.facts + [("cat", "Miso the cat sleeps on the printer every afternoon.")])
        try await Self.add(db, [
            ("ex-pets", "Sources:\n[1] (5 Jan 2026) Our dog Rex eats twice a day.\n\nQuestion: How often does Rex eat?\nAnswer: Twice a day [1]."),
            ("ex-deadlines", "Sources:\n[1] (5 Jan 2026) The tax return is due on May 31.\n\nQuestion: When is the tax return due?\nAnswer: On May 31 [1]."),
        ], namespace: "examples")
        let generator = GLMTextGenerator(try GLMGenerator(model: GLMModel(path: Self.model), threads: 2, contextSize: 2048))
        var request = AskRequest(question: "When is the quarterly report due?", k: 3, passages: 2, now: Self.now)
        request.temperature = 0
        request.maxTokens = 16
        let deadline = try await db.ask(request, generator: generator, templates: Self.templates)
        #expect(deadline.examples == ["ex-deadlines"] && !deadline.answer.isEmpty)
        #expect(Set(deadline.retrieved.map(\.id)).isDisjoint(with: ["ex-pets", "ex-deadlines"]))
        request.question = "Where does the cat sleep?"
        let pets = try await db.ask(request, generator: generator, templates: Self.templates)
        #expect(pets.examples == ["ex-pets"] && pets.retrieved.first?.id == "cat")
        try db.close()
    }
}
