import Foundation

/// A worked question/answer example, shown to the model before the question as an earlier
/// exchange of the conversation (the user turn with its sources and question, the assistant
/// turn with its answer), so that the model sees how an answer from numbered sources looks.
/// Examples are memories of their own namespace (`[ask] examples_namespace`), chosen for each
/// question by the cosine of their embedding with the question's.
///
/// An example's text has the form the prompt gives a question (see `text(question:answer:cited:)`):
///
/// ```
/// Sources:
/// [1] (5 Jan 2026) The tax return is due on May 31.
///
/// Question: When is the tax return due?
/// Answer: On May 31 [1].
/// ```
///
/// The last line starting `Answer:` begins the answer, the last `Question:` line before it the
/// question; what comes before is the sources (the `Sources:` heading is optional).
public struct FewShotExample: Sendable, Equatable {
    public var id: String
    /// Its cosine with the question.
    public var similarity: Double
    /// The sources, one `[n] (date) text` line each ("" when the example has none).
    public var sources: String
    public var question: String
    public var answer: String

    /// Reads an example's text; nil when it lacks a question or an answer.
    public init?(id: String, text: String, similarity: Double) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        func starts(_ line: Substring, _ label: String) -> Bool { line.trimmingCharacters(in: .whitespaces).hasPrefix(label) }
        func after(_ line: Substring, _ label: String) -> String {
            String(line.trimmingCharacters(in: .whitespaces).dropFirst(label.count))
        }
        guard let a = lines.lastIndex(where: { starts($0, "Answer:") }),
              let q = lines[..<a].lastIndex(where: { starts($0, "Question:") }) else { return nil }
        let question = ([after(lines[q], "Question:")] + lines[(q + 1)..<a].map(String.init))
            .joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        let answer = ([after(lines[a], "Answer:")] + lines[(a + 1)...].map(String.init))
            .joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty, !answer.isEmpty else { return nil }
        var head = lines[..<q]
        if let first = head.firstIndex(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }),
           head[first].trimmingCharacters(in: .whitespaces) == "Sources:" {
            head = head[(first + 1)...]
        }
        self.id = id
        self.similarity = similarity
        self.sources = head.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        self.question = question
        self.answer = answer
    }

    /// The text of an example made from an answer: the passages it cited, numbered anew from
    /// 1 in the order of first citation, the question, and the answer with its citations
    /// renumbered to match (citations of numbers not among `cited` are dropped).
    public static func text(question: String, answer: String, cited: [(number: Int, memory: RetrievedMemory)]) -> String {
        var renumber: [Int: Int] = [:]
        var sources: [String] = []
        for (i, p) in cited.enumerated() {
            renumber[p.number] = i + 1
            // With the year: an example is kept for years.
            sources.append(ContextBuilder.render(number: i + 1, p.memory))
        }
        let body = Citations.renumber(answer.trimmingCharacters(in: .whitespacesAndNewlines)) { renumber[$0] }
        return "Sources:\n\(sources.joined(separator: "\n"))\n\nQuestion: \(question)\nAnswer: \(body)"
    }
}
