import EngramRAG
import Foundation

extension EngramDatabase {
    /// Answers a question from memory: retrieves as `query` does (every filter, decay and
    /// mode), chooses the passages (`ContextBuilder`: near-duplicates out, MMR, the token
    /// budget), and has `generator` answer from them with the prompt `templates`; `onText`
    /// receives the answer as it is generated.
    ///
    /// - Throws: `EngramError` `.invalidArgument` for options out of range, `.failedPrecondition`
    ///   (`nothingToGoOn`) when no memory passes the filters and `allowNoContext` is not set,
    ///   and the errors of `query` and of the generator.
    public func ask(_ request: AskRequest, generator: any TextGenerator, templates: PromptTemplates,
                    onText: @escaping @Sendable (String) -> Void = { _ in }) async throws -> AskResponse {
        let started = DispatchTime.now().uptimeNanoseconds
        let k = request.k ?? 20
        guard (1...AskRequest.maxK).contains(k) else {
            throw EngramError.invalidArgument("k must be between 1 and \(AskRequest.maxK)")
        }
        var options = AskOptions()
        options.context.maxPassages = request.passages ?? askSettings.passages
        options.context.tokenBudget = request.contextTokens ?? askSettings.contextTokens
        try options.context.validate()
        options.allowNoContext = request.allowNoContext ?? false
        options.now = request.now?.seconds ?? Date().timeIntervalSince1970
        options.generation = request.generation(over: askSettings.generation)

        // Retrieval: the question's text and embedding, with the vectors of what it found
        // (for near-duplicates and diversity).
        let question = request.question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty else { throw EngramError.invalidArgument("the question is empty") }
        let vector = request.mode == .text ? nil : try await embedQuery(question)
        let found = try await query(QueryRequest(text: question, vector: vector, k: k, filter: request.filter,
                                                 scoring: request.scoring, now: Timestamp(options.now), mode: request.mode))
        let retrieved = try found.results.map { hit in
            let record = try get(GetRequest(id: hit.id, includeVector: true))
            return RetrievedMemory(id: hit.id, text: record.text, time: hit.time.seconds, score: hit.score, vector: record.vector ?? [])
        }
        let retrieveMs = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6

        let asker = Asker(generator: generator, templates: templates)
        let prepared = try asker.prepare(question, retrieved: retrieved, options: options)
        let context = prepared.context
        let passageIds = Set(context.passages.map(\.memory.id))
        let overBudget = Set(context.overBudget)
        let report = retrieved.map { m in
            let left: AskRetrieved.LeftOut? = passageIds.contains(m.id) ? nil
                : context.duplicates[m.id] != nil ? .duplicate : overBudget.contains(m.id) ? .budget : .passages
            return AskRetrieved(id: m.id, score: m.score, time: Timestamp(m.time), left: left)
        }
        let useCache = request.cache ?? true
        let cacheKey = useCache ? try AskCache.key(model: generator.modelIdentifier, prepared: prepared) : ""
        if useCache, var hit = try AskCache.lookup(store, key: cacheKey) {
            onText(hit.answer)
            hit.cached = true
            hit.retrieved = report
            hit.timings = AskResponse.Timings(retrieveMs: retrieveMs, prefillMs: 0, decodeMs: 0, firstTokenMs: nil)
            return hit
        }
        let answer = try await asker.generate(prepared, onText: onText)
        func source(_ p: Passage) -> AskSource {
            AskSource(n: p.number, id: p.memory.id, score: p.memory.score, time: Timestamp(p.memory.time), text: p.memory.text)
        }
        let outcome = answer.outcome
        let response = AskResponse(
            answerId: Self.newAnswerId(), answer: answer.text,
            citations: answer.cited.map(source), uncited: answer.uncited.map(source), unknownCitations: answer.citations.unknown,
            retrieved: report,
            model: generator.modelIdentifier, cached: false,
            usage: AskResponse.Usage(promptTokens: outcome.promptTokens, cachedPromptTokens: outcome.cachedPromptTokens,
                                     completionTokens: outcome.completionTokens),
            timings: AskResponse.Timings(retrieveMs: retrieveMs, prefillMs: outcome.prefillSeconds * 1000,
                                         decodeMs: outcome.decodeSeconds * 1000, firstTokenMs: outcome.firstTextSeconds.map { $0 * 1000 }))
        if useCache && !readOnly && outcome.finish != .cancelled {
            // Changes not yet applied first: an older change to a memory used here must not
            // drop this new entry later.
            try AskCache.collect(store)
            try AskCache.save(store, key: cacheKey, response: response, ids: context.passages.map(\.memory.id))
        }
        return response
    }

    /// The prompt templates of `ask`: from `explicit`, else `[ask] prompts` (relative to the
    /// database directory), else `$ENGRAM_PROMPTS`, else the bundled `Data/prompts`.
    public func promptTemplates(explicit: String? = nil) throws -> PromptTemplates {
        var given = explicit
        if given == nil, !askSettings.prompts.isEmpty {
            let path = askSettings.prompts
            given = (path as NSString).isAbsolutePath ? path : directory.appendingPathComponent(path).standardizedFileURL.path
        }
        return try PromptTemplates(directory: PromptTemplates.locate(explicit: given))
    }

    /// A random 64-bit id in hex.
    static func newAnswerId() -> String {
        var g = SystemRandomNumberGenerator()
        return String(format: "%016llx", g.next() as UInt64)
    }
}
