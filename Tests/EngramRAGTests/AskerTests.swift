import EngramBase
import EngramGLM
import EngramRAG
import Foundation
import EngramTestSupport
import Synchronization
import Testing

@Suite("Answering from retrieved memories")
struct AskerTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let templates = try! PromptTemplates(directory: repoRoot.appendingPathComponent("Data/prompts"))
    static let day = 86_400.0
    static let march2 = 1_772_409_600.0

    static let facts = [
        RetrievedMemory(id: "office-new", text: "The office moved to Leipzig, Karl-Liebknecht-Strasse 12.", time: march2 + 30 * day,
                        score: 0.9, vector: [1, 0, 0]),
        RetrievedMemory(id: "office-old", text: "The office is in Berlin, Torstrasse 5.", time: march2, score: 0.8, vector: [0.6, 0.8, 0]),
        RetrievedMemory(id: "price", text: "The subscription costs 12 euros a month.", time: march2, score: 0.3, vector: [0, 0, 1]),
    ]

    @Test("citations map to the numbered passages; unknown numbers and uncited passages are reported")
    func citations() async throws {
        let generator = ScriptedGenerator(reply: "It moved to Leipzig [1], before that it was in Berlin [2]. See also [5].")
        let asker = Asker(generator: generator, templates: Self.templates)
        var options = AskOptions()
        options.now = Self.march2 + 40 * Self.day
        let answer = try await asker.answer("Where is the office?", retrieved: Self.facts, options: options)
        #expect(answer.context.passages.map(\.memory.id) == ["office-new", "office-old", "price"])
        #expect(answer.cited.map(\.memory.id) == ["office-new", "office-old"])
        #expect(answer.uncited.map(\.memory.id) == ["price"])
        #expect(answer.citations.unknown == [5])
        // The prompt: the system message with today's date, the numbered sources (dated without
        // the year, today's), the question.
        let turns = generator.prompts.withLock { $0 }.first!
        #expect(turns.map(\.role) == [.system, .user])
        #expect(turns[0].content.contains("Today is 11 Apr 2026."))
        #expect(turns[1].content.contains("""
            [1] (1 Apr) The office moved to Leipzig, Karl-Liebknecht-Strasse 12.
            [2] (2 Mar) The office is in Berlin, Torstrasse 5.
            [3] (2 Mar) The subscription costs 12 euros a month.
            """))
        #expect(turns[1].content.contains("\n\nQuestion: Where is the office?\n"))
    }

    @Test("nothing retrieved: refused unless answering without context is allowed")
    func nothingToGoOn() async throws {
        let generator = ScriptedGenerator(reply: "I do not know.")
        let asker = Asker(generator: generator, templates: Self.templates)
        await #expect {
            _ = try await asker.answer("Where is the office?", retrieved: [], options: AskOptions())
        } throws: { ($0 as? EngramError)?.is(.failedPrecondition, .nothingToGoOn) == true }
        #expect(generator.prompts.withLock { $0 }.isEmpty)
        var options = AskOptions()
        options.allowNoContext = true
        let answer = try await asker.answer("Where is the office?", retrieved: [], options: options)
        #expect(answer.context.passages.isEmpty && answer.citations.cited.isEmpty)
        #expect(generator.prompts.withLock { $0 }.first![1].content.contains("Sources:\n(none)"))
    }

    @Test("the passages get what the model's context leaves after the prompt and the answer")
    func contextBudget() async throws {
        // A context of the bare prompt, an answer of 5 and 12 tokens: one passage of 9 fits.
        let counter = ScriptedGenerator(reply: "")
        let bare = counter.promptTokenCount(Asker(generator: counter, templates: Self.templates)
            .prompt(question: "Where is the office?", sources: "", now: Self.march2))
        let sized = ScriptedGenerator(reply: "Leipzig [1].", contextSize: bare + 5 + 12)
        var options = AskOptions()
        options.now = Self.march2
        options.generation.maxTokens = 5
        let answer = try await Asker(generator: sized, templates: Self.templates).answer("Where is the office?", retrieved: Self.facts, options: options)
        // Each passage renders to 10 words: the first fits in 12, no second one does.
        #expect(answer.context.passages.map(\.memory.id) == ["office-new"])
        #expect(answer.context.tokens <= 12)
        // An answer as long as the context leaves nothing for sources.
        options.generation.maxTokens = sized.contextSize
        await #expect {
            _ = try await Asker(generator: sized, templates: Self.templates).answer("Where is the office?", retrieved: Self.facts, options: options)
        } throws: { ($0 as? EngramError)?.code == .invalidArgument }
        await #expect {
            _ = try await Asker(generator: sized, templates: Self.templates).answer("  ", retrieved: Self.facts, options: AskOptions())
        } throws: { ($0 as? EngramError)?.code == .invalidArgument }
    }

    @Test("worked examples are earlier exchanges, most similar first, within half of the room left for sources")
    func examples() async throws {
        let generator = ScriptedGenerator(reply: "Leipzig [1].")
        let asker = Asker(generator: generator, templates: Self.templates)
        let short = try #require(FewShotExample(id: "short", text: """
            Sources:
            [1] (5 Jan 2026) The depot is in Halle.

            Question: Where is the depot?
            Answer: In Halle [1].
            """, similarity: 0.9))
        #expect(short.sources == "[1] (5 Jan 2026) The depot is in Halle." && short.question == "Where is the depot?" && short.answer == "In Halle [1].")
        let long = try #require(FewShotExample(id: "long", text: "Question: \(Array(repeating: "word", count: 3000).joined(separator: " "))\nAnswer: yes",
                                               similarity: 0.5))
        var options = AskOptions()
        options.now = Self.march2
        // The long one would take more than half of what is left: it and those after it are out.
        let prepared = try asker.prepare("Where is the office?", retrieved: Self.facts, examples: [short, long, short], options: options)
        #expect(prepared.examples.map(\.id) == ["short"])
        #expect(prepared.turns.map(\.role) == [.system, .user, .assistant, .user])
        #expect(prepared.turns[1].content.hasPrefix("Sources:\n[1] (5 Jan 2026) The depot is in Halle.\n\nQuestion: Where is the depot?"))
        #expect(prepared.turns[2].content == "In Halle [1].")
        #expect(prepared.turns[3].content.hasPrefix("Sources:\n[1] (1 Apr) The office moved to Leipzig"))
        // Text without a question and an answer is not an example.
        #expect(FewShotExample(id: "x", text: "Answer: 4\nQuestion: 2+2?", similarity: 1) == nil)
        #expect(FewShotExample(id: "x", text: "Just a note.", similarity: 1) == nil)
    }

    @Test("with SmolLM2: a well-formed answer from the sources, and the second question reuses the prompt prefix")
    func realModel() async throws {
        let path = Self.repoRoot.appendingPathComponent("Data/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").path
        try #require(FileManager.default.fileExists(atPath: path), "missing \(path): run Tools/setup-models.sh")
        let engine = try GLMGenerator(model: GLMModel(path: path), threads: 2, contextSize: 2048)
        let generator = GLMTextGenerator(engine)
        let asker = Asker(generator: generator, templates: Self.templates)
        var options = AskOptions()
        options.now = Self.march2 + 40 * Self.day
        options.generation.temperature = 0
        options.generation.maxTokens = 48
        let streamed = Mutex("")
        let first = try await asker.answer("Where is the office now?", retrieved: Self.facts, options: options) { piece in
            streamed.withLock { $0 += piece }
        }
        #expect(!first.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        #expect(streamed.withLock { $0 } == first.text)
        #expect(first.outcome.promptTokens == generator.promptTokenCount(
            asker.prompt(question: "Where is the office now?", sources: first.context.rendered, now: options.now)))
        #expect(first.outcome.completionTokens > 0 && first.outcome.completionTokens <= 48)
        // Every number the answer cites is either a passage or reported as unknown.
        let numbers = first.citations.cited + first.citations.unknown
        #expect(Set(first.citations.cited).isSubset(of: Set(1...first.context.passages.count)))
        #expect(Set(first.citations.cited + first.citations.uncited) == Set(1...first.context.passages.count))
        print("AskerTests.realModel answer: \(first.text) (cited \(numbers))")
        // The system message is the same for the next question: its state is kept.
        let second = try await asker.answer("How much is the subscription?", retrieved: Self.facts, options: options)
        let systemTokens = generator.promptTokenCount([ChatTurn(.system, asker.prompt(question: "", sources: "", now: options.now)[0].content)])
        #expect(second.outcome.cachedPromptTokens >= systemTokens - 2)
        print("AskerTests.realModel: second prompt \(second.outcome.promptTokens) tokens, \(second.outcome.cachedPromptTokens) kept from the first")
    }
}
