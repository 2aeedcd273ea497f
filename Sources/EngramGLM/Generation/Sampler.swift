import EngramBase
import Foundation

/// How the next token is chosen. Defaults: greedy is `temperature = 0`.
/// `GLMSampler` and `GLMGenerator` refuse parameters outside the ranges below (`validate()`).
public struct GLMSamplingParameters: Sendable, Equatable {
    /// Finite and ≥ 0; 0 means greedy (argmax). Default 0.8.
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens; ≥ 0, 0 disables. Default 40.
    public var topK: Int = 40
    /// Keep the smallest set whose probability reaches p; in (0, 1], 1 disables. Default 0.95.
    public var topP: Float = 0.95
    /// Keep tokens with probability ≥ minP · the best one's; in [0, 1], 0 disables. Default 0.05.
    public var minP: Float = 0.05
    /// Divide positive / multiply negative logits of recent tokens; finite and > 0, 1 disables.
    /// Default 1.
    public var repetitionPenalty: Float = 1.0
    /// How many recent tokens the repetition penalty looks at; ≥ 0. Default 64.
    public var repetitionWindow: Int = 64
    /// Seed of the random generator; nil draws one. A fixed seed makes a run reproducible.
    public var seed: UInt64? = nil

    public init() {}

    /// Argmax at every step.
    public static var greedy: GLMSamplingParameters {
        var p = GLMSamplingParameters()
        p.temperature = 0
        return p
    }

    /// Checks every parameter against its range (see each property).
    /// - Throws: `EngramError` `.invalidArgument` (`invalidSampling`) naming the first
    ///   parameter out of range.
    public func validate() throws {
        func bad(_ problem: String) -> EngramError {
            EngramError(.invalidArgument, "invalid sampling parameters: \(problem)", reason: .invalidSampling)
        }
        guard temperature.isFinite, temperature >= 0 else { throw bad("temperature \(temperature) must be finite and ≥ 0 (0 is greedy)") }
        guard topK >= 0 else { throw bad("topK \(topK) must be ≥ 0 (0 disables it)") }
        guard topP > 0, topP <= 1 else { throw bad("topP \(topP) must be in (0, 1] (1 disables it)") }
        guard minP >= 0, minP <= 1 else { throw bad("minP \(minP) must be in [0, 1] (0 disables it)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw bad("repetitionPenalty \(repetitionPenalty) must be finite and > 0 (1 disables it)")
        }
        guard repetitionWindow >= 0 else { throw bad("repetitionWindow \(repetitionWindow) must be ≥ 0") }
    }
}

/// Chooses tokens from logits in llama.cpp's order: repetition penalty → top-k → top-p →
/// min-p → temperature → draw. The candidate list is never empty: the most likely token
/// always survives top-p and min-p.
public struct GLMSampler: Sendable {
    public let parameters: GLMSamplingParameters
    private var rng: SeededRandom

    /// - Throws: `EngramError` `.invalidArgument` (`invalidSampling`) for parameters out of
    ///   range (`GLMSamplingParameters.validate()`).
    public init(_ parameters: GLMSamplingParameters) throws {
        try parameters.validate()
        self.parameters = parameters
        rng = SeededRandom(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// The next token given `logits` (one per vocabulary entry) and the tokens so far (ids
    /// outside `logits` are ignored by the repetition penalty).
    /// - Throws: `EngramError` `.invalidArgument` (`invalidSampling`) for empty `logits`.
    public mutating func sample(_ logits: [Float], history: [Int32]) throws -> Int32 {
        guard !logits.isEmpty else {
            throw EngramError(.invalidArgument, "no logits to sample from", reason: .invalidSampling)
        }
        var logits = logits
        let p = parameters
        if p.repetitionPenalty != 1, p.repetitionWindow > 0 {
            for t in Set(history.suffix(p.repetitionWindow)) where t >= 0 && Int(t) < logits.count {
                let l = logits[Int(t)]
                logits[Int(t)] = l > 0 ? l / p.repetitionPenalty : l * p.repetitionPenalty
            }
        }
        if p.temperature == 0 { return Int32(GLMSampler.argmax(logits)) }

        var candidates: [(id: Int, logit: Float)]
        if p.topK > 0 && p.topK < logits.count {
            candidates = GLMSampler.topK(logits, p.topK)
        } else {
            candidates = logits.indices.map { (id: $0, logit: logits[$0]) }
            candidates.sort { $0.logit > $1.logit }
        }
        // Probabilities at temperature 1 for top-p / min-p, as llama.cpp's chain does.
        func probabilities(_ c: [(id: Int, logit: Float)], _ temperature: Float) -> [Float] {
            let m = c[0].logit
            var e = c.map { expf(($0.logit - m) / temperature) }
            let s = e.reduce(0, +)
            for i in e.indices { e[i] /= s }
            return e
        }
        if p.topP < 1 {
            let probs = probabilities(candidates, 1)
            var cum: Float = 0, keep = candidates.count
            for (i, q) in probs.enumerated() {
                cum += q
                if cum >= p.topP { keep = i + 1; break }
            }
            candidates.removeLast(candidates.count - keep)
        }
        if p.minP > 0 {
            // The first (most likely) candidate always stays, even when its logit is NaN.
            let limit = candidates[0].logit + logf(p.minP)
            candidates = [candidates[0]] + candidates.dropFirst().filter { $0.logit >= limit }
        }
        let probs = probabilities(candidates, p.temperature)
        let r = Float(Double(rng.next() >> 11) / Double(1 << 53))
        var cum: Float = 0
        for (i, q) in probs.enumerated() {
            cum += q
            if r < cum { return Int32(candidates[i].id) }
        }
        return Int32(candidates[candidates.count - 1].id)
    }

    /// The `k` largest logits, best first, without sorting the whole vocabulary (`k` ≥ 1).
    static func topK(_ logits: [Float], _ k: Int) -> [(id: Int, logit: Float)] {
        var best: [(id: Int, logit: Float)] = []
        best.reserveCapacity(k + 1)
        for (i, l) in logits.enumerated() {
            if best.count == k, l <= best[k - 1].logit { continue }
            var at = best.count
            while at > 0 && best[at - 1].logit < l { at -= 1 }
            best.insert((i, l), at: at)
            if best.count > k { best.removeLast() }
        }
        return best
    }

    /// The index of the largest value (the first on ties; 0 for an empty array).
    public static func argmax(_ x: [Float]) -> Int {
        var best = 0
        for i in x.indices where x[i] > x[best] { best = i }
        return best
    }
}

