import CFaiss
import Foundation

/// The quantized vectors, by label: what scans read instead of the full vectors (a quarter
/// of the bytes), each with the bound of its error (see `ScalarQuantizer`).
///
/// A value type: queries hold the copy they started with while writes go on.
struct Codes: Sendable {
    let dimension: Int
    private(set) var quantizer: ScalarQuantizer
    /// Row `label` holds that label's codes (zeros for labels never encoded).
    private(set) var bytes: [UInt8] = []
    /// ‖x − x̂‖ of each label (0 for labels never encoded).
    private(set) var errors: [Float] = []
    /// The largest error of any label encoded so far.
    private(set) var maxError: Float = 0

    init(quantizer: ScalarQuantizer) {
        dimension = quantizer.dimension
        self.quantizer = quantizer
    }

    /// Codes loaded from a snapshot.
    init(quantizer: ScalarQuantizer, bytes: [UInt8], errors: [Float]) {
        self.init(quantizer: quantizer)
        self.bytes = bytes
        self.errors = errors
        maxError = errors.max() ?? 0
    }

    var count: Int { errors.count }

    /// Makes room for labels up to `count - 1`.
    mutating func reserve(_ count: Int) {
        guard count > errors.count else { return }
        bytes.append(contentsOf: repeatElement(0, count: (count - errors.count) * dimension))
        errors.append(contentsOf: repeatElement(0, count: count - errors.count))
    }

    /// Encodes `vector` as the codes of `label`.
    mutating func set(_ label: Int64, _ vector: UnsafeBufferPointer<Float>) {
        reserve(Int(label) + 1)
        let d = dimension
        let err = bytes.withUnsafeMutableBufferPointer { quantizer.encode(vector, into: $0.baseAddress! + Int(label) * d) }
        errors[Int(label)] = err
        maxError = max(maxError, err)
    }

    /// Approximate similarities of `query` (prepared by the quantizer) to `labels`.
    func approximate(_ prepared: (qs: [Float], bias: Float), _ labels: [Int64]) -> [Float] {
        guard !labels.isEmpty else { return [] }
        var out = [Float](repeating: 0, count: labels.count)
        prepared.qs.withUnsafeBufferPointer { qs in
            bytes.withUnsafeBufferPointer { codes in
                cfaiss_sq8_scores(qs.baseAddress, prepared.bias, codes.baseAddress, dimension, labels, labels.count, &out)
            }
        }
        return out
    }
}
