import EngramBase
import Foundation

extension EngramError.Reason {
    /// `ask` found no memory to answer from (and was not allowed to answer without one).
    public static let nothingToGoOn = EngramError.Reason("NOTHING_TO_GO_ON")
}

/// How one question is answered.
public struct AskOptions: Sendable, Equatable {
    public var context = ContextOptions()
    public var generation = GenerationSettings()
    /// Answer even when no memory passes the filters (the model then says so, or answers from
    /// what it knows; the answer cites nothing).
    public var allowNoContext = false
    /// The moment the question is asked (the prompt's "today").
    public var now: Double = Date().timeIntervalSince1970
    public init() {}
}

/// An answer and the sources it stands on.
public struct Answer: Sendable, Equatable {
    public var text: String
    /// The context the model was given, numbered.
    public var context: AnswerContext
    /// The numbers it cited, unknown ones and uncited passages.
    public var citations: Citations
    public var outcome: GenerationOutcome

    /// The passages cited, in order of first citation.
    public var cited: [Passage] { citations.cited.map { context.passages[$0 - 1] } }
    /// The passages given but not cited.
    public var uncited: [Passage] { citations.uncited.map { context.passages[$0 - 1] } }
}

/// Answers a question from retrieved memories with a `TextGenerator`: chooses the context
/// (`ContextBuilder`) within what the model's context leaves after the prompt and the answer,
/// fills the prompt templates, generates, and reads the citations back.
public struct Asker: Sendable {
    public let generator: any TextGenerator
    public let templates: PromptTemplates

    public init(generator: any TextGenerator, templates: PromptTemplates) {
        self.generator = generator
        self.templates = templates
    }

    /// The conversation for `question` with `sources` (the rendered passages): the system
    /// message, each worked example as an exchange (its question with its sources, then its
    /// answer), then the question.
    public func prompt(question: String, sources: String, examples: [FewShotExample] = [], now: Double) -> [ChatTurn] {
        let today = ContextBuilder.date(now)
        func ask(_ question: String, _ sources: String) -> ChatTurn {
            ChatTurn(.user, PromptTemplates.fill(templates.question, [
                "sources": sources.isEmpty ? Self.noSources : sources, "question": question, "today": today,
            ]))
        }
        var turns = [ChatTurn(.system, PromptTemplates.fill(templates.system, ["today": today]))]
        for example in examples {
            turns.append(ask(example.question, example.sources))
            turns.append(ChatTurn(.assistant, example.answer))
        }
        turns.append(ask(question, sources))
        return turns
    }

    /// What the sources say when there are none (`allowNoContext`).
    static let noSources = "(none)"

    /// A question made ready to generate: its context and the exact prompt (what an answer
    /// cache is keyed by).
    public struct Prepared: Sendable, Equatable {
        public var context: AnswerContext
        /// The worked examples put before the question.
        public var examples: [FewShotExample]
        public var turns: [ChatTurn]
        public var settings: GenerationSettings
    }

    /// Answers `question` from `retrieved` (best first): `prepare`, then `generate`.
    public func answer(_ question: String, retrieved: [RetrievedMemory], examples: [FewShotExample] = [], options: AskOptions,
                       onText: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Answer {
        try await generate(try prepare(question, retrieved: retrieved, examples: examples, options: options), onText: onText)
    }

    /// Generates the answer of a prepared question and reads its citations back.
    public func generate(_ prepared: Prepared, onText: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Answer {
        let outcome = try await generator.generate(prepared.turns, settings: prepared.settings, onText: onText)
        return Answer(text: outcome.text, context: prepared.context,
                      citations: Citations(answer: outcome.text, given: prepared.context.passages.count), outcome: outcome)
    }

    /// Chooses the context of `question` from `retrieved` (best first) and writes the prompt,
    /// with the first of `examples` (most similar first) whose tokens fit in half of what the
    /// model's context leaves for sources, so that examples never crowd the sources out.
    /// - Throws: `EngramError` `.failedPrecondition` (`nothingToGoOn`) when nothing was
    ///   retrieved and `allowNoContext` is off; `.invalidArgument` for options out of range or
    ///   a question too long for the model's context.
    public func prepare(_ question: String, retrieved: [RetrievedMemory], examples: [FewShotExample] = [],
                        options: AskOptions) throws -> Prepared {
        let question = question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty else { throw EngramError(.invalidArgument, "the question is empty") }
        guard retrieved.isEmpty == false || options.allowNoContext else {
            throw EngramError(.failedPrecondition, "no memory matches the question and its filters: there is nothing to answer from (use --allow-no-context to let the model answer without sources)",
                              reason: .nothingToGoOn)
        }
        guard (1...generator.contextSize).contains(options.generation.maxTokens) else {
            throw EngramError(.invalidArgument, "max tokens must be between 1 and the model's context of \(generator.contextSize) tokens")
        }
        // The passages get what the context leaves after the prompt without them and the answer.
        let bare = generator.promptTokenCount(prompt(question: question, sources: "", now: options.now))
        var room = generator.contextSize - bare - options.generation.maxTokens
        var shown: [FewShotExample] = []
        var withExamples = bare
        for example in examples {
            let longer = generator.promptTokenCount(prompt(question: question, sources: "", examples: shown + [example], now: options.now))
            guard longer - bare <= room / 2 else { break }
            shown.append(example)
            withExamples = longer
        }
        room -= withExamples - bare
        guard room > 0 || retrieved.isEmpty else {
            throw EngramError(.invalidArgument, "the question and an answer of \(options.generation.maxTokens) tokens fill the model's context of \(generator.contextSize) tokens: no room is left for sources (ask a shorter question or lower --max-tokens)")
        }
        var contextOptions = options.context
        contextOptions.tokenBudget = max(1, min(contextOptions.tokenBudget, room))
        let context = try ContextBuilder.build(retrieved, options: contextOptions, now: options.now, tokens: generator.tokenCount)
        guard !context.passages.isEmpty || options.allowNoContext else {
            throw EngramError(.failedPrecondition, "no retrieved memory fits in the model's context beside the question and the answer",
                              reason: .nothingToGoOn)
        }
        return Prepared(context: context, examples: shown,
                        turns: prompt(question: question, sources: context.rendered, examples: shown, now: options.now),
                        settings: options.generation)
    }
}
