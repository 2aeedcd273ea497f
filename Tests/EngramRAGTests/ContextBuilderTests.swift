import EngramBase
import EngramRAG
import Foundation
import Testing

@Suite("Context of an answer: near-duplicates, diversity, token budget")
struct ContextBuilderTests {
    /// 2026-03-02T12:00:00Z.
    static let march2 = 1_772_452_800.0

    static func memory(_ id: String, _ score: Double, _ vector: [Float], text: String? = nil) -> RetrievedMemory {
        RetrievedMemory(id: id, text: text ?? "fact \(id)", time: march2, score: score, vector: vector)
    }

    /// A word per token: enough to test packing against a known count.
    static func words(_ line: String) -> Int { line.split(whereSeparator: \.isWhitespace).count }

    @Test("near-duplicates of a better memory are left out, and say which memory they repeat")
    func duplicates() throws {
        let a = Self.memory("a", 0.9, [1, 0, 0])
        let twin = Self.memory("a2", 0.8, [0.999, 0.0447, 0])  // cosine 0.999 with a
        let b = Self.memory("b", 0.7, [0, 1, 0])
        let context = try ContextBuilder.build([a, twin, b], options: ContextOptions(), tokens: Self.words)
        #expect(context.passages.map(\.memory.id) == ["a", "b"])
        #expect(context.duplicates == ["a2": "a"])
        // A threshold of 1 keeps every memory.
        let all = try ContextBuilder.build([a, twin, b], options: ContextOptions(duplicateCosine: 1), tokens: Self.words)
        #expect(all.passages.count == 3 && all.duplicates.isEmpty)
    }

    @Test("MMR puts a different fact before a close variant of the first; λ = 1 ranks by relevance")
    func diversity() throws {
        // Relevance (min-max of the scores): a 1, a' 0.875, b 0.75, c 0. After a:
        // a' = 0.7·0.875 − 0.3·0.9 = 0.3425 (cosine 0.9 with a), b = 0.7·0.75 − 0 = 0.525: b first.
        let a = Self.memory("a", 0.9, [1, 0, 0])
        let close = Self.memory("a'", 0.85, [0.9, Float((1 - 0.81).squareRoot()), 0])
        let b = Self.memory("b", 0.8, [0, 0, 1])
        let c = Self.memory("c", 0.5, [0, -1, 0])
        let candidates = [a, close, b, c]
        let mmr = try ContextBuilder.build(candidates, options: ContextOptions(), tokens: Self.words)
        #expect(mmr.passages.map(\.memory.id) == ["a", "b", "a'", "c"])
        #expect(mmr.passages.map(\.number) == [1, 2, 3, 4])
        let relevance = try ContextBuilder.build(candidates, options: ContextOptions(mmrLambda: 1), tokens: Self.words)
        #expect(relevance.passages.map(\.memory.id) == ["a", "a'", "b", "c"])
    }

    @Test("passages are packed into the token budget by the given counts; a shorter one may follow one that did not fit")
    func packing() throws {
        let long = String(repeating: "word ", count: 30).trimmingCharacters(in: .whitespaces)
        let candidates = [
            Self.memory("short1", 0.9, [1, 0, 0, 0], text: "the office moved to Leipzig"),     // 9 tokens rendered
            Self.memory("long", 0.8, [0, 1, 0, 0], text: long),                               // 34
            Self.memory("short2", 0.7, [0, 0, 1, 0], text: "the price is 12 euros"),           // 9
        ]
        let context = try ContextBuilder.build(candidates, options: ContextOptions(mmrLambda: 1, tokenBudget: 20), tokens: Self.words)
        #expect(context.passages.map(\.memory.id) == ["short1", "short2"])
        #expect(context.overBudget == ["long"])
        #expect(context.passages.map(\.number) == [1, 2])
        #expect(context.tokens == 18 && context.tokens <= 20)
        #expect(context.rendered == "[1] (2 Mar 2026) the office moved to Leipzig\n[2] (2 Mar 2026) the price is 12 euros")
        // At most maxPassages.
        let one = try ContextBuilder.build(candidates, options: ContextOptions(maxPassages: 1), tokens: Self.words)
        #expect(one.passages.map(\.memory.id) == ["short1"])
    }

    @Test("a passage is one line with its UTC date, without the year when it is the question's")
    func rendering() throws {
        let midnight = 1_772_409_600.0  // 2026-03-02T00:00:00Z
        let m = RetrievedMemory(id: "x", text: "first line\nsecond line", time: midnight + 86_399, score: 1, vector: [1])
        #expect(ContextBuilder.render(number: 3, m) == "[3] (2 Mar 2026) first line second line")
        let next = RetrievedMemory(id: "y", text: "z", time: midnight + 86_400, score: 1, vector: [1])
        #expect(ContextBuilder.render(number: 1, next) == "[1] (3 Mar 2026) z")
        // Asked on 2026-12-31T23:59:59Z: the same year; a second later, the next.
        let lastSecond = 1_798_761_599.0
        #expect(ContextBuilder.render(number: 1, next, now: lastSecond) == "[1] (3 Mar) z")
        #expect(ContextBuilder.render(number: 1, next, now: lastSecond + 1) == "[1] (3 Mar 2026) z")
        #expect(ContextBuilder.date(1_798_761_600) == "1 Jan 2027")
        // What `build` renders, given the question's moment.
        let context = try ContextBuilder.build([next], options: ContextOptions(), now: midnight, tokens: Self.words)
        #expect(context.rendered == "[1] (3 Mar) z")
    }

    @Test("out-of-range options are refused with INVALID_ARGUMENT", arguments: [
        ContextOptions(maxPassages: 0), ContextOptions(maxPassages: ContextLimits.maxPassages + 1),
        ContextOptions(duplicateCosine: 1.5), ContextOptions(duplicateCosine: .nan),
        ContextOptions(mmrLambda: -0.1), ContextOptions(tokenBudget: 0),
    ])
    func badOptions(options: ContextOptions) {
        #expect {
            try ContextBuilder.build([], options: options, tokens: Self.words)
        } throws: { ($0 as? EngramError)?.code == .invalidArgument }
    }

    @Test("nothing retrieved: an empty context")
    func empty() throws {
        let context = try ContextBuilder.build([], options: ContextOptions(), tokens: Self.words)
        #expect(context.passages.isEmpty && context.rendered.isEmpty && context.tokens == 0)
    }
}

@Suite("Citations of an answer")
struct CitationTests {
    @Test("renumbering maps each citation's numbers and drops those that map to nothing")
    func renumber() {
        let text = "Leipzig [3] since March [3, 5]; before [2] [sic] [7]."
        #expect(Citations.renumber(text) { [3: 1, 5: 2][$0] } == "Leipzig [1] since March [1, 2]; before [sic].")
        #expect(Citations.renumber("No citation.") { $0 } == "No citation.")
    }

    @Test("[n], [n, m] and [n][m] cite; other brackets do not; unknown numbers are reported")
    func parse() {
        let answer = "The office is in Leipzig [1] since March [3, 2]. It was in Berlin [7] [sic] [1a] [2][2] [4"
        let c = Citations(answer: answer, given: 3)
        #expect(c.cited == [1, 3, 2])
        #expect(c.unknown == [7])
        #expect(c.uncited == [])
        let more = Citations(answer: answer, given: 5)
        #expect(more.cited == [1, 3, 2] && more.unknown == [7] && more.uncited == [4, 5])
        let none = Citations(answer: "I do not know.", given: 2)
        #expect(none.cited == [] && none.unknown == [] && none.uncited == [1, 2])
        let zero = Citations(answer: "see [0] and [1]", given: 0)
        #expect(zero.cited == [] && zero.unknown == [0, 1] && zero.uncited == [])
        let huge = Citations(answer: "[12345678901234567890]", given: 2)
        #expect(huge.cited == [] && huge.unknown == [])
    }
}

@Suite("Prompt templates")
struct PromptTemplateTests {
    static let prompts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Data/prompts")

    @Test("the bundled templates load and fill")
    func bundled() throws {
        let templates = try PromptTemplates(directory: Self.prompts)
        let user = PromptTemplates.fill(templates.question, ["sources": "[1] (2 Mar) x", "question": "Where?"])
        #expect(user.hasPrefix("Sources:\n[1] (2 Mar) x\n\nQuestion: Where?\n"))
        #expect(PromptTemplates.fill(templates.system, ["today": "2 Dec 2026"]).contains("Today is 2 Dec 2026."))
    }

    @Test("unknown placeholders, a question template without the sources, and a missing file are refused")
    func refused() {
        #expect {
            try PromptTemplates(system: "Answer {{tone}}", question: "{{sources}} {{question}}")
        } throws: { ($0 as? EngramError)?.code == .invalidArgument && "\($0)".contains("{{tone}}") }
        #expect {
            try PromptTemplates(system: "Answer", question: "{{question}}")
        } throws: { ($0 as? EngramError)?.code == .invalidArgument && "\($0)".contains("{{sources}}") }
        #expect {
            try PromptTemplates(directory: URL(fileURLWithPath: "/nonexistent/prompts"))
        } throws: { ($0 as? EngramError)?.code == .failedPrecondition }
    }
}
