import Foundation

/// A person's judgement of an answer.
public enum Verdict: String, Codable, Sendable, CaseIterable {
    case good
    case bad
}

/// Feedback on an answer of `ask`.
///
/// JSON: `{"answerId","verdict":"good"|"bad","note"?,"keepAsExample"?}`.
public struct FeedbackRequest: Codable, Sendable, Equatable {
    public var answerId: String
    public var verdict: Verdict
    public var note: String?
    /// Keep the question, its cited sources and the answer as a worked example for later
    /// questions (good answers only).
    public var keepAsExample: Bool?

    public init(answerId: String, verdict: Verdict, note: String? = nil, keepAsExample: Bool? = nil) {
        self.answerId = answerId
        self.verdict = verdict
        self.note = note
        self.keepAsExample = keepAsExample
    }

    /// The longest note kept, in bytes.
    public static let maxNoteBytes = 4_096
}

/// One change of a memory's importance by feedback, as `get` lists it.
///
/// JSON: `{"at","answerId","verdict","from","to","note"?}`.
public struct ImportanceAdjustment: Codable, Sendable, Equatable {
    public var at: Timestamp
    public var answerId: String
    public var verdict: Verdict
    public var from: Double
    public var to: Double
    public var note: String?
}

/// What feedback changed.
///
/// JSON: `{"answerId","verdict","adjusted":[{"id","from","to"}],"missing":[id],"exampleId"?}`.
public struct FeedbackResponse: Codable, Sendable, Equatable {
    public struct Adjusted: Codable, Sendable, Equatable {
        public var id: String
        public var from: Double
        public var to: Double

        public init(id: String, from: Double, to: Double) {
            self.id = id
            self.from = from
            self.to = to
        }
    }

    public var answerId: String
    public var verdict: Verdict
    /// The memories the answer cited, with their importance before and after.
    public var adjusted: [Adjusted]
    /// Memories the answer cited that no longer exist.
    public var missing: [String]
    /// The id of the worked example kept, with `keepAsExample`.
    public var exampleId: String?
}
