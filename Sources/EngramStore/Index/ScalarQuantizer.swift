import CFaiss
import Foundation

/// 8-bit scalar quantization of unit vectors: dimension j of x is stored as the byte
/// `c_j = round((x_j − vmin_j) / step_j)` (clamped to 0…255), so that `x_j ≈ vmin_j + c_j·step_j`.
///
/// Every code comes with its exact reconstruction error `e = ‖x − x̂‖`. For a unit query q,
/// `|q·x − q·x̂| ≤ e` (Cauchy–Schwarz), so an approximate score plus or minus `e` brackets
/// the exact one: that is what lets queries scan a quarter of the bytes and still return the
/// exact top-k, re-reading full vectors only for the memories whose bracket reaches the k-th
/// score.
struct ScalarQuantizer: Equatable, Sendable {
    let dimension: Int
    private(set) var vmin: [Float]
    private(set) var step: [Float]

    /// The quantizer for any unit vector: every dimension spans [−1, 1]. Coarse (an error of
    /// ~0.04 for 384 dimensions), used until there are vectors to train on.
    static func uniform(dimension: Int) -> ScalarQuantizer {
        ScalarQuantizer(dimension: dimension, vmin: [Float](repeating: -1, count: dimension),
                        step: [Float](repeating: 2 / 255, count: dimension))
    }

    init(dimension: Int, vmin: [Float], step: [Float]) {
        self.dimension = dimension
        self.vmin = vmin
        self.step = step
    }

    /// Ranges from the per-dimension minimum and maximum of the vectors of `sample` (read a
    /// chunk at a time), widened by a tenth so that vectors written later are rarely clamped
    /// (a clamped value only makes its error, and so its bracket, larger).
    static func trained(on sample: [Int64], from source: VectorSource) throws -> ScalarQuantizer {
        let d = source.dimension
        guard !sample.isEmpty else { return .uniform(dimension: d) }
        var lo = [Float](repeating: .infinity, count: d), hi = [Float](repeating: -.infinity, count: d)
        for start in Swift.stride(from: 0, to: sample.count, by: IVFTraining.chunkRows) {
            let part = sample[start..<min(start + IVFTraining.chunkRows, sample.count)]
            let rows = try source.rows(part)
            for i in 0..<part.count {
                for j in 0..<d {
                    let x = rows[i * d + j]
                    lo[j] = min(lo[j], x)
                    hi[j] = max(hi[j], x)
                }
            }
        }
        var vmin = [Float](repeating: 0, count: d), step = [Float](repeating: 0, count: d)
        for j in 0..<d {
            let margin = max(1e-6, (hi[j] - lo[j]) * 0.05)
            let low = max(-1, lo[j] - margin), high = min(1, hi[j] + margin)
            vmin[j] = low
            step[j] = max(1e-9, (high - low) / 255)
        }
        return ScalarQuantizer(dimension: d, vmin: vmin, step: step)
    }

    /// Encodes `vector` into `codes` (room for `dimension` bytes); returns its error ‖x − x̂‖,
    /// rounded up so that it stays a bound in float arithmetic.
    /// The codes round half away from zero, and the error sums its squares in the order of
    /// the dimensions (`cfaiss_sq8_encode`): `check` re-encodes stored vectors and compares.
    func encode(_ vector: UnsafeBufferPointer<Float>, into codes: UnsafeMutablePointer<UInt8>) -> Float {
        precondition(vector.count >= dimension)
        let err = vmin.withUnsafeBufferPointer { vmin in
            step.withUnsafeBufferPointer { step in
                cfaiss_sq8_encode(vector.baseAddress!, vmin.baseAddress!, step.baseAddress!, dimension, codes)
            }
        }
        return Float(err.squareRoot() * (1 + 1e-5) + 1e-6)
    }

    /// The query in the form the scan kernel takes: `q·x ≈ bias + Σ qs_j·c_j`.
    func prepare(_ query: [Float]) -> (qs: [Float], bias: Float) {
        var qs = [Float](repeating: 0, count: dimension)
        var bias: Double = 0
        for j in 0..<dimension {
            qs[j] = query[j] * step[j]
            bias += Double(query[j]) * Double(vmin[j])
        }
        return (qs, Float(bias))
    }
}
