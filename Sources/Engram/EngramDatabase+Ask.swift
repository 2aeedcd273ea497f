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
        // (for near-duplicates and diversity). Worked examples are not sources: their
        // namespace is left out unless the request asks for it by name.
        let question = request.question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty else { throw EngramError.invalidArgument("the question is empty") }
        let examplesNamespace = askSettings.examplesNamespace
        let wantExamples = askSettings.examples > 0 && count(FilterRequest(namespace: examplesNamespace)) > 0
        let vector = request.mode == .text && !wantExamples ? nil : try await embedQuery(question)
        var filter = request.filter ?? FilterRequest()
        if filter.namespace != examplesNamespace { filter.notNamespaces = (filter.notNamespaces ?? []) + [examplesNamespace] }
        let found = try await query(QueryRequest(text: question, vector: request.mode == .text ? nil : vector, k: k, filter: filter,
                                                 scoring: request.scoring, now: Timestamp(options.now), mode: request.mode,
                                                 graphHops: request.graphHops))
        let retrieved = try found.results.map { hit in
            let record = try get(GetRequest(id: hit.id, includeVector: true))
            return RetrievedMemory(id: hit.id, text: record.text, time: hit.time.seconds, score: hit.score, vector: record.vector ?? [])
        }
        let examples = wantExamples ? try await self.examples(for: vector ?? [], now: options.now) : []
        let retrieveMs = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6

        let asker = Asker(generator: generator, templates: templates)
        let prepared = try asker.prepare(question, retrieved: retrieved, examples: examples, options: options)
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
            answerId: AnswerLog.newId(at: Date().timeIntervalSince1970), answer: answer.text,
            citations: answer.cited.map(source), uncited: answer.uncited.map(source), unknownCitations: answer.citations.unknown,
            retrieved: report, examples: prepared.examples.map(\.id),
            model: generator.modelIdentifier, cached: false,
            usage: AskResponse.Usage(promptTokens: outcome.promptTokens, cachedPromptTokens: outcome.cachedPromptTokens,
                                     completionTokens: outcome.completionTokens),
            timings: AskResponse.Timings(retrieveMs: retrieveMs, prefillMs: outcome.prefillSeconds * 1000,
                                         decodeMs: outcome.decodeSeconds * 1000, firstTokenMs: outcome.firstTextSeconds.map { $0 * 1000 }))
        if !readOnly && outcome.finish != .cancelled {
            // Changes not yet applied first: an older change to a memory used here must not
            // drop this new cache entry later.
            if useCache { try AskCache.collect(store) }
            try store.write { tx in
                try AnswerLog.put(AnswerLog.Entry(question: question, at: Timestamp(Date().timeIntervalSince1970), response: response), in: tx)
                if useCache { try AskCache.stage(key: cacheKey, response: response, ids: context.passages.map(\.memory.id), in: tx) }
            }
        }
        return response
    }

    /// The worked examples most similar to a question's embedding (`[ask] examples` of them
    /// at most, from `[ask] examples_namespace`), by cosine alone.
    func examples(for vector: [Float], now: Double) async throws -> [FewShotExample] {
        let found = try await query(QueryRequest(vector: vector, k: askSettings.examples,
                                                 filter: FilterRequest(namespace: askSettings.examplesNamespace),
                                                 scoring: ScoringRequest(wSim: 1, wTime: 0, wImportance: 0),
                                                 now: Timestamp(now), mode: .vector))
        return found.results.compactMap { hit in
            guard let example = FewShotExample(id: hit.id, text: hit.text ?? "", similarity: hit.similarity) else {
                logger.warning("the worked example '\(hit.id)' has no 'Question:' line followed by an 'Answer:' line: left out")
                return nil
            }
            return example
        }
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
}
