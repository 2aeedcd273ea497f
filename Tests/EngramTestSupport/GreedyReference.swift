/// How a free-running greedy continuation is held to llama.cpp's (`smollm2_greedy.json` in
/// ../shared/reference, whose README compares the argmax only where the teacher-forced top-2
/// gap is ≥ 1.0): equal, or parting from it at a near tie — a generated token where the
/// reference's top-2 gap is below 1.0 and ours is among its top ten within 1.0 of its best
/// logit. After such a token the two continuations are free to differ.
public enum GreedyReference {
    public enum Outcome: Equatable {
        case same
        /// Parts from the reference at generated token `at`, a near tie with top-2 gap `gap`.
        case partsAtNearTie(at: Int, gap: Float)
        /// Parts from it where it may not: why.
        case differs(String)
    }

    /// - Parameters:
    ///   - out: the generated tokens.
    ///   - reference: the reference's greedy tokens.
    ///   - promptCount: the prompt's tokens before them.
    ///   - top10: the reference's teacher-forced top ten `(token, logit)` at every position of
    ///     the prompt and the reference's continuation.
    public static func compare(_ out: [Int], reference: [Int], promptCount: Int, top10: [[(Int, Float)]]) -> Outcome {
        if out == reference { return .same }
        let n = min(out.count, reference.count)
        let split = (0..<n).first { out[$0] != reference[$0] } ?? n
        let at = promptCount + split - 1
        guard top10.indices.contains(at) else { return .differs("no reference logits at position \(at)") }
        let top = top10[at]
        let gap = top[0].1 - top[1].1
        guard gap < 1.0 else { return .differs("greedy output differs at token \(split) where the reference gap is \(gap)") }
        if split < out.count, !top.contains(where: { $0.0 == out[split] && top[0].1 - $0.1 < 1.0 }) {
            return .differs("token \(out[split]) is not a near tie in the reference \(top)")
        }
        return .partsAtNearTie(at: split, gap: gap)
    }
}
