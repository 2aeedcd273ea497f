import EngramBase
import Foundation

/// A memory retrieved for a question, as the context of an answer sees it.
public struct RetrievedMemory: Sendable, Equatable {
    public var id: String
    public var text: String
    /// Event time, seconds since 1970.
    public var time: Double
    /// The retrieval score (relevance with decay and importance): higher is better.
    public var score: Double
    /// The memory's unit embedding (for near-duplicate and diversity checks).
    public var vector: [Float]

    public init(id: String, text: String, time: Double, score: Double, vector: [Float]) {
        self.id = id
        self.text = text
        self.time = time
        self.score = score
        self.vector = vector
    }
}

/// One numbered source of an answer's context.
public struct Passage: Sendable, Equatable {
    /// 1-based: the number the answer cites as `[n]`.
    public var number: Int
    public var memory: RetrievedMemory
    /// `[n] (date) text` (see `ContextBuilder.date`).
    public var rendered: String
    /// Tokens of `rendered` and its line break, by the engine's tokenizer.
    public var tokens: Int
}

/// How the context of an answer is chosen from what retrieval found.
public struct ContextOptions: Sendable, Equatable {
    /// Passages at most.
    public var maxPassages: Int = 5
    /// A memory whose cosine with a better one already kept exceeds this is a near-duplicate
    /// and is left out (1 keeps every memory).
    public var duplicateCosine: Double = 0.95
    /// Maximal marginal relevance: `λ·relevance − (1 − λ)·(highest cosine with a passage
    /// already chosen)`, relevance being the retrieval score min-max normalised over the
    /// candidates. 1 ranks by relevance alone.
    public var mmrLambda: Double = 0.7
    /// Tokens the passages may take in all.
    public var tokenBudget: Int = 1024

    public init(maxPassages: Int = 5, duplicateCosine: Double = 0.95, mmrLambda: Double = 0.7, tokenBudget: Int = 1024) {
        self.maxPassages = maxPassages
        self.duplicateCosine = duplicateCosine
        self.mmrLambda = mmrLambda
        self.tokenBudget = tokenBudget
    }

    /// Checks every option's range.
    public func validate() throws {
        guard (1...ContextLimits.maxPassages).contains(maxPassages) else {
            throw EngramError(.invalidArgument, "the number of passages must be between 1 and \(ContextLimits.maxPassages)")
        }
        guard duplicateCosine.isFinite, (0...1).contains(duplicateCosine) else {
            throw EngramError(.invalidArgument, "the near-duplicate cosine must be between 0 and 1")
        }
        guard mmrLambda.isFinite, (0...1).contains(mmrLambda) else {
            throw EngramError(.invalidArgument, "the MMR λ must be between 0 and 1")
        }
        guard tokenBudget >= 1 else { throw EngramError(.invalidArgument, "the context token budget must be at least 1") }
    }
}

/// Limits of the context options.
public enum ContextLimits {
    public static let maxPassages = 100
}

/// What the context builder chose, and what it left out and why.
public struct AnswerContext: Sendable, Equatable {
    public var passages: [Passage]
    /// Left out as near-duplicates of a passage (id → the kept memory's id).
    public var duplicates: [String: String]
    /// Chosen by relevance and diversity, but beyond the token budget.
    public var overBudget: [String]
    /// The passages' lines, joined.
    public var rendered: String { passages.map(\.rendered).joined(separator: "\n") }
    public var tokens: Int { passages.reduce(0) { $0 + $1.tokens } }
}

/// Chooses and numbers the passages of an answer's context: near-duplicates out, the rest in
/// maximal-marginal-relevance order, packed into the token budget by the engine's own counts
/// (a passage that does not fit is skipped and a shorter one after it may still fit), then
/// numbered in that order, so `[1]` is the most relevant source.
public enum ContextBuilder {
    /// - Parameters:
    ///   - candidates: retrieval's results, best first.
    ///   - tokens: the number of tokens a line takes in the engine's prompt.
    ///   - now: the moment of the question: dates in its year are shown without the year.
    public static func build(_ candidates: [RetrievedMemory], options: ContextOptions, now: Double? = nil,
                             tokens: (String) throws -> Int) throws -> AnswerContext {
        try options.validate()
        // 1. Near-duplicates: compared with the better memories kept so far.
        var kept: [RetrievedMemory] = []
        var duplicates: [String: String] = [:]
        for memory in candidates {
            if let twin = kept.first(where: { cosine($0.vector, memory.vector) > options.duplicateCosine }) {
                duplicates[memory.id] = twin.id
            } else {
                kept.append(memory)
            }
        }
        // 2. Maximal marginal relevance over what is left.
        let scores = kept.map(\.score)
        let lo = scores.min() ?? 0, hi = scores.max() ?? 0
        let relevance = scores.map { hi > lo ? ($0 - lo) / (hi - lo) : 1 }
        var order: [Int] = []
        var closest = [Double](repeating: -1, count: kept.count)
        var remaining = Set(kept.indices)
        while !remaining.isEmpty {
            let next = remaining.max { a, b in
                let ma = mmr(relevance[a], closest[a], options.mmrLambda, chosen: !order.isEmpty)
                let mb = mmr(relevance[b], closest[b], options.mmrLambda, chosen: !order.isEmpty)
                return ma != mb ? ma < mb : a > b  // ties: the better-ranked candidate
            }!
            remaining.remove(next)
            order.append(next)
            for i in remaining { closest[i] = max(closest[i], cosine(kept[i].vector, kept[next].vector)) }
        }
        // 3. Packing, then numbering.
        var passages: [Passage] = []
        var overBudget: [String] = []
        var used = 0
        for i in order {
            let memory = kept[i]
            guard passages.count < options.maxPassages else { break }
            let line = render(number: passages.count + 1, memory, now: now)
            let cost = try tokens(line + "\n")
            if used + cost > options.tokenBudget {
                overBudget.append(memory.id)
                continue
            }
            used += cost
            passages.append(Passage(number: passages.count + 1, memory: memory, rendered: line, tokens: cost))
        }
        return AnswerContext(passages: passages, duplicates: duplicates, overBudget: overBudget)
    }

    /// `[n] (date) text`, the text on one line; the date as `date(_:now:)` writes it.
    public static func render(number: Int, _ memory: RetrievedMemory, now: Double? = nil) -> String {
        let text = memory.text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return "[\(number)] (\(date(memory.time, now: now))) \(text)"
    }

    /// The UTC date of `time`: the day and the month's English abbreviation, and the year
    /// unless `now` is given and falls in the same year ("2 Mar", "2 Mar 2025"). Short on
    /// purpose: the small models' tokenizers give every digit a token of its own, so the
    /// month's name is one token where `-03-` is four, and five dated passages are a large
    /// part of the prompt evaluated before the first token of an answer (SmolLM2: the
    /// sample's five passages dated with their years took 18 fewer tokens than as
    /// `2026-03-02`). A date without a year is in the year "today" gives in the system
    /// message.
    public static func date(_ time: Double, now: Double? = nil) -> String {
        let c = utc.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: time))
        let dayMonth = "\(c.day!) \(monthAbbreviations[c.month! - 1])"
        if let now, utc.component(.year, from: Date(timeIntervalSince1970: now)) == c.year! { return dayMonth }
        return "\(dayMonth) \(c.year!)"
    }

    private static let monthAbbreviations = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    private static func mmr(_ relevance: Double, _ closest: Double, _ lambda: Double, chosen: Bool) -> Double {
        chosen ? lambda * relevance - (1 - lambda) * closest : relevance
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in a.indices {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
        }
        return na > 0 && nb > 0 ? dot / (na * nb).squareRoot() : 0
    }
}
