import EngramRAG
import Foundation

extension EngramDatabase {
    /// Records a judgement of an answer of `ask` and moves the importance of the memories it
    /// cited by `ImportanceHistory`'s rule (`[ask] feedback_rate`), each move recorded in the
    /// memory's history (`get` lists it). With `keepAsExample` (good answers only), the
    /// question, the passages it cited and the answer become a worked example in
    /// `[ask] examples_namespace`, embedded by its question. Everything commits in one write.
    ///
    /// - Throws: `EngramError` `.notFound` for an answer id unknown or past
    ///   `[ask] answer_retention`; `.failedPrecondition` (`feedbackGiven`) when the answer
    ///   already had feedback; `.invalidArgument` for a malformed id, a note too long, or
    ///   `keepAsExample` with a bad verdict; `readOnly`.
    public func feedback(_ request: FeedbackRequest) async throws -> FeedbackResponse {
        guard !readOnly else { throw EngramError.readOnly }
        let answerId = request.answerId.lowercased()
        guard AnswerLog.isValidId(answerId) else {
            throw EngramError.invalidArgument("'\(request.answerId)' is not an answer id (24 hexadecimal digits, as `ask` prints)")
        }
        let note = request.note?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let note, note.utf8.count > FeedbackRequest.maxNoteBytes {
            throw EngramError.invalidArgument("the note is longer than \(FeedbackRequest.maxNoteBytes) bytes")
        }
        let keep = request.keepAsExample ?? false
        if keep && request.verdict != .good { throw EngramError.invalidArgument("only a good answer can be kept as an example") }
        guard let logged = try AnswerLog.entry(answerId, in: store) else {
            throw EngramError(.notFound, "no answer '\(answerId)': it was never given here, or is older than [ask] answer_retention")
        }
        // The example's embedding is made before the write (the writer lock is not held
        // across the embedder).
        var example: NewMemory?
        if keep {
            let cited = logged.response.citations.map { s in
                (number: s.n, memory: RetrievedMemory(id: s.id, text: s.text, time: s.time.seconds, score: s.score, vector: []))
            }
            example = NewMemory(id: "example:\(answerId)", namespace: askSettings.examplesNamespace,
                                text: FewShotExample.text(question: logged.question, answer: logged.response.answer, cited: cited),
                                vector: try await embedForStorage([logged.question])[0],
                                meta: ["answerId": .string(answerId), "question": .string(logged.question)])
        }
        let rate = askSettings.feedbackRate
        return try store.write { tx in
            guard var entry = try AnswerLog.entry(answerId, in: tx) else {
                throw EngramError(.notFound, "no answer '\(answerId)': it is older than [ask] answer_retention")
            }
            if let given = entry.feedback {
                throw EngramError(.failedPrecondition, "answer '\(answerId)' already received feedback (\(given.verdict.rawValue), at \(given.at))",
                                  reason: .feedbackGiven)
            }
            let at = Timestamp(tx.now)
            var adjusted: [FeedbackResponse.Adjusted] = []
            var missing: [String] = []
            var seen = Set<String>()
            for id in entry.response.citations.map(\.id) where seen.insert(id).inserted {
                guard let memory = try tx.memory(id) else {
                    missing.append(id)
                    continue
                }
                var rewrite = NewMemory(rewriting: memory)
                rewrite.importance = ImportanceHistory.adjusted(memory.importance, request.verdict, rate: rate)
                try tx.upsert([rewrite])
                try ImportanceHistory.put(ImportanceAdjustment(at: at, answerId: answerId, verdict: request.verdict,
                                                               from: memory.importance, to: rewrite.importance, note: note),
                                          of: id, in: tx)
                adjusted.append(.init(id: id, from: memory.importance, to: rewrite.importance))
            }
            if let example { try tx.upsert([example]) }
            entry.feedback = AnswerLog.Entry.Given(verdict: request.verdict, at: at, note: note)
            try AnswerLog.put(entry, in: tx)
            return FeedbackResponse(answerId: answerId, verdict: request.verdict, adjusted: adjusted, missing: missing,
                                    exampleId: example?.id)
        }
    }
}
