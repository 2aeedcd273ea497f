import Engram
import EngramGLM
import Foundation
import Testing

@Suite("[ask] settings")
struct AskSettingsTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("defaults, values, and refusals of unknown keys and out-of-range values")
    func parsing() throws {
        #expect(try AskSettings(SettingsDocument(parsing: "")) == AskSettings())
        let set = try AskSettings(SettingsDocument(parsing: """
            [ask]
            prompts = "p"
            passages = 3
            context_tokens = 200
            max_tokens = 40
            temperature = 0
            examples = 0
            examples_namespace = "shots"
            feedback_rate = 0.5
            answer_retention = "7d"
            """))
        #expect(set.prompts == "p" && set.passages == 3 && set.contextTokens == 200 && set.maxTokens == 40 && set.temperature == 0)
        #expect(set.examples == 0 && set.examplesNamespace == "shots" && set.feedbackRate == 0.5 && set.answerRetention == 7 * 86_400)
        #expect(set.generation.maxTokens == 40 && set.generation.temperature == 0)
        for (toml, words) in [("passages = 0", "passages"), ("passages = 101", "passages"), ("context_tokens = 0", "context_tokens"),
                              ("max_tokens = -1", "max_tokens"), ("temperature = -0.5", "temperature"), ("passage = 3", "passage"),
                              ("passages = \"five\"", "passages"), ("examples = 21", "examples"), ("examples = -1", "examples"),
                              ("examples_namespace = \"\"", "examples_namespace"), ("feedback_rate = 0", "feedback_rate"),
                              ("feedback_rate = 1.5", "feedback_rate"), ("answer_retention = \"0s\"", "answer_retention"),
                              ("answer_retention = \"soon\"", "answer_retention")] {
            #expect("\(toml)") {
                try AskSettings(SettingsDocument(parsing: "[ask]\n" + toml))
            } throws: { ($0 as? EngramError)?.is(.invalidArgument, .invalidSettings) == true && "\($0)".contains(words) }
        }
    }

    @Test("a database's [ask] section sets its prompts directory and the defaults of ask")
    func database() async throws {
        let model = Self.repoRoot.appendingPathComponent("Data/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").path
        try #require(FileManager.default.fileExists(atPath: model), "missing \(model): run Tools/setup-models.sh")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-ask-settings-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var settings = StoreSettings()
        settings.sync = false
        try EngramDatabase.create(at: dir, settings: settings).close()
        let prompts = dir.appendingPathComponent("my-prompts")
        try FileManager.default.createDirectory(at: prompts, withIntermediateDirectories: true)
        try "Answer from the sources. Today is {{today}}.".write(to: prompts.appendingPathComponent("system.txt"), atomically: false, encoding: .utf8)
        try "{{sources}}\nQ: {{question}}".write(to: prompts.appendingPathComponent("question.txt"), atomically: false, encoding: .utf8)
        let toml = dir.appendingPathComponent("engram.toml")
        try (String(contentsOf: toml, encoding: .utf8) + "\n[ask]\nprompts = \"my-prompts\"\npassages = 1\nmax_tokens = 8\ntemperature = 0\n")
            .write(to: toml, atomically: false, encoding: .utf8)

        let db = try EngramDatabase.open(at: dir)
        #expect(db.askSettings.passages == 1 && db.askSettings.maxTokens == 8)
        let templates = try db.promptTemplates()
        #expect(templates.system == "Answer from the sources. Today is {{today}}." && templates.question == "{{sources}}\nQ: {{question}}")
        _ = try await db.upsert(UpsertRequest(memories: [
            MemoryInput(id: "a", text: "The office is in Leipzig."), MemoryInput(id: "b", text: "The office phone is 0341 555 0199."),
        ]))
        let generator = GLMTextGenerator(try GLMGenerator(model: GLMModel(path: model), threads: 2, contextSize: 1024))
        let answer = try await db.ask(AskRequest(question: "Where is the office?"), generator: generator, templates: templates)
        #expect(answer.citations.count + answer.uncited.count == 1)
        #expect(answer.usage.completionTokens <= 8)
        // A request's own values win over the section's.
        var wider = AskRequest(question: "Where is the office?", passages: 2)
        wider.cache = false
        let two = try await db.ask(wider, generator: generator, templates: templates)
        #expect(two.citations.count + two.uncited.count == 2)
        try db.close()
    }
}
