import ArgumentParser
import Engram
import EngramServer
import EngramGLM
import Foundation

/// `engram ask "question"`: answers from memory with the local model, citing its sources.
struct Ask: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a question from memory with the local language model, citing the memories it used.",
        discussion: """
        The question is retrieved like `engram query` (every filter, time decay and --mode). \
        Near-duplicates are dropped, the rest ordered by relevance and diversity (MMR) and \
        packed into --context-tokens by the model's own token counts, each as \
        `[n] (date) text`. The model is told to answer only from those numbered sources, to \
        cite them as [n] and to prefer the newer source when two disagree. The answer is \
        streamed; then the sources it cited, those it was given but did not cite, and any \
        number it cited that no source had. With nothing to answer from, ask says so (or, \
        with --allow-no-context, lets the model answer without sources).

        The same prompt (the same passages, question, day, model and sampling) gets the stored \
        answer at once, marked cached (--no-cache generates anew): a memory it used that \
        changed, or a new memory among the passages, makes another prompt.

        The prompt's texts are Data/prompts/system.txt and question.txt, or those of the \
        directory --prompts, [ask] prompts in engram.toml or $ENGRAM_PROMPTS names. [ask] also \
        sets the defaults of --passages, --context-tokens, --max-tokens and --temperature.
        """)

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "The question.")
    var question: String

    @Option(help: "Retrieval: vector, text or hybrid (default: the database's [text] mode).")
    var mode: RetrievalMode?

    @Option(name: .customLong("graph-hops"), help: "Let memories the graph links to the question's entities, within this many hops (1 to 6), join the retrieval (see `engram query --help`).")
    var graphHops: Int?

    @Option(help: "Memories to retrieve before choosing the passages (1 to \(AskRequest.maxK)).")
    var k = 20

    @Option(help: "Passages given to the model at most, 1 to \(ContextLimits.maxPassages) (default: [ask] passages in engram.toml, 5).")
    var passages: Int?

    @Option(name: .customLong("context-tokens"), help: "Tokens the passages may take at most, less when the model's context leaves less (default: [ask] context_tokens, 1024).")
    var contextTokens: Int?

    @OptionGroup var filter: FilterOptions

    @OptionGroup var scoring: ScoringOptions

    @OptionGroup var modelOptions: GLMModelOptions

    @Option(help: ArgumentHelp("Directory of the prompt templates (system.txt, question.txt).", valueName: "dir"))
    var prompts: String?

    @OptionGroup var sampling: SamplingOptions

    @Option(help: "Threads for the model's kernels (default: number of cores).")
    var threads: Int?

    @Flag(name: .customLong("allow-no-context"), help: "Answer even when no memory matches (the answer then cites nothing).")
    var allowNoContext = false

    @Flag(name: .customLong("no-cache"), help: "Generate anew, neither reusing nor storing the answer to the same prompt.")
    var noCache = false

    func validate() throws {
        guard (1...AskRequest.maxK).contains(k) else { throw ValidationError("--k must be between 1 and \(AskRequest.maxK)") }
        if let passages, !(1...ContextLimits.maxPassages).contains(passages) {
            throw ValidationError("--passages must be between 1 and \(ContextLimits.maxPassages)")
        }
        if let contextTokens, contextTokens < 1 { throw ValidationError("--context-tokens must be at least 1") }
        try GLMThreading.validate(threads)
        try Query.validateGraphHops(graphHops, text: question)
        if question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("the question is empty") }
    }

    func run() async throws {
        CLI.bootstrap
        var request = AskRequest(question: question, k: k, passages: passages, contextTokens: contextTokens,
                                 filter: try filter.request(), scoring: try scoring.request(), now: try scoring.moment(), mode: mode,
                                 graphHops: graphHops)
        request.allowNoContext = allowNoContext
        request.cache = !noCache
        let stream = !options.json
        let response: AskResponse
        if modelOptions.model == nil && prompts == nil && threads == nil, let socket = options.daemonSocket() {
            // The engramd holding the database answers (its model, its cache).
            let settings = try options.settingsDocument().map(AskSettings.init) ?? AskSettings()
            request.generation = sampling.settings(over: settings.generation)
            var answered: AskResponse?
            _ = try await DaemonClient.call(socket: socket, .ragAsk, request, as: AskStreamMessage.self) { data in
                let message = try JSONDecoder().decode(AskStreamMessage.self, from: data)
                if let text = message.text, stream { FileHandle.standardOutput.write(Data(text.utf8)) }
                if let whole = message.response { answered = whole }
            }
            guard let answered else { throw CLIError("engramd ended the answer without its sources") }
            response = answered
        } else {
            // Storing the answer (for the cache and for feedback) needs the write lock; while
            // another process holds it, answers are still reused, not stored.
            let db: EngramDatabase
            do {
                db = try EngramDatabase.open(at: options.location, readOnly: false, logger: options.logger())
            } catch let error as EngramError where error.reason == .databaseInUse {
                CLI.printErr("note: the database is in use by another process: this answer is neither cached nor kept for feedback")
                db = try options.open(readOnly: true)
            }
            let templates = try db.promptTemplates(explicit: prompts)
            let engine = try GLMGenerator(model: GLMModel(path: modelOptions.resolvedPath()), threads: threads ?? GLMThreading.defaultThreadCount)
            request.generation = sampling.settings(over: db.askSettings.generation)
            response = try await db.ask(request, generator: GLMTextGenerator(engine), templates: templates) { piece in
                if stream { FileHandle.standardOutput.write(Data(piece.utf8)) }
            }
            if !db.readOnly { try db.close() }
        }
        if options.json {
            try CLI.printJSON(response)
            return
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        func line(_ s: AskSource) -> String {
            let snippet = s.text.count > 100 ? String(s.text.prefix(99)) + "…" : s.text
            return "  [\(s.n)] \(s.id)  \(s.time)  \(snippet)"
        }
        if !response.citations.isEmpty { print("\nSources:\n" + response.citations.map(line).joined(separator: "\n")) }
        if !response.uncited.isEmpty { print("\nAlso given, not cited:\n" + response.uncited.map(line).joined(separator: "\n")) }
        if !response.unknownCitations.isEmpty {
            print("\nCited but never given: " + response.unknownCitations.map { "[\($0)]" }.joined(separator: ", "))
        }
        if !response.examples.isEmpty { print("\nWorked examples shown: " + response.examples.joined(separator: ", ")) }
        let t = response.timings
        if response.cached {
            CLI.printErr(String(format: "[answer %@, %@: the stored answer to the same prompt; retrieval %.0f ms]",
                                response.answerId, response.model, t.retrieveMs))
            return
        }
        CLI.printErr(String(format: "[answer %@, %@: retrieval %.0f ms, first token %.0f ms, %d prompt tokens (%d kept), %d generated in %.0f ms]",
                            response.answerId, response.model, t.retrieveMs, t.firstTokenMs ?? 0, response.usage.promptTokens,
                            response.usage.cachedPromptTokens, response.usage.completionTokens, t.decodeMs))
    }
}
