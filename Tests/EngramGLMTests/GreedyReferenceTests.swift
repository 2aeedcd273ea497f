import EngramTestSupport
import Testing

/// The near-tie rule the greedy-continuation tests rely on (`GreedyReference`): each outcome,
/// on a made-up reference of a 2-token prompt and 3 generated tokens.
struct GreedyReferenceTests {
    /// Positions 0…4; the prediction of generated token i is at position 1 + i. Generated token 0
    /// is a clear choice (gap 3), token 1 a near tie between 20 and 21 (gap 0.5), token 2 clear.
    static let top10: [[(Int, Float)]] = [
        [(1, 5), (2, 4)],
        [(10, 9), (11, 6), (12, 5)],
        [(20, 9), (21, 8.5), (22, 7)],
        [(30, 9), (31, 7)],
        [(40, 9), (41, 2)],
    ]
    static let reference = [10, 20, 30]

    @Test("equal output is the same; parting at a near tie with a near-tie token is allowed")
    func allowed() {
        #expect(GreedyReference.compare(Self.reference, reference: Self.reference, promptCount: 2, top10: Self.top10) == .same)
        #expect(GreedyReference.compare([10, 21, 99], reference: Self.reference, promptCount: 2, top10: Self.top10)
                == .partsAtNearTie(at: 1, gap: 0.5))
    }

    @Test("parting where the reference's gap is ≥ 1, with a token outside the near tie, or past the reference's positions differs")
    func refused() {
        func differs(_ out: [Int], reference: [Int] = Self.reference, promptCount: Int = 2) -> Bool {
            if case .differs = GreedyReference.compare(out, reference: reference, promptCount: promptCount, top10: Self.top10) {
                return true
            }
            return false
        }
        #expect(differs([11, 20, 30]))   // gap 3 at generated token 0
        #expect(differs([10, 22, 30]))   // a near tie, but 22 is 2 below the best
        #expect(differs([10, 20, 31]))   // gap 2 at generated token 2
        // Our token is the teacher-forced best, but the gap there is 2: a free-running reference
        // that took 31 may not be parted from.
        #expect(differs([10, 20, 30], reference: [10, 20, 31]))
        #expect(differs([99], promptCount: 9))  // no reference logits there
    }
}
