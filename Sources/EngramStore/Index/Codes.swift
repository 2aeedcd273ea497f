import CFaiss
import Foundation

/// The quantized vectors, by label: what scans read instead of the full vectors (a quarter
/// of the bytes), each with the bound of its error (see `ScalarQuantizer`).
///
/// Rows live in fixed-size chunks that are never moved. A label's row is written before the
/// label is published, and changed only when a dead label is reused, which no reader looks
/// at (readers skip labels dead in their view, and a snapshot writes dead rows as zeros): so
/// copies of this value (the views that queries read) share the chunks, and a writer
/// appending rows for new labels copies nothing. A rebuild that retrains the quantizer makes
/// new `Codes` altogether.
struct Codes: @unchecked Sendable {
    /// Rows a chunk holds: 2^chunkShift.
    static let chunkShift = 12
    static let chunkRows = 1 << chunkShift

    /// A block of `chunkRows` rows of codes and their errors: a mapping of its own (zeros),
    /// or rows of a snapshot file mapped privately (see `MappedRegion`).
    final class Chunk: @unchecked Sendable {
        let bytes: UnsafeMutablePointer<UInt8>
        let errors: UnsafeMutablePointer<Float>
        /// What keeps `bytes` and `errors` mapped.
        private let region: MappedRegion

        /// A chunk of zeros.
        init(dimension: Int) {
            // The codes take a multiple of 4 bytes, so the errors that follow are aligned.
            let codeBytes = Codes.chunkRows * dimension
            region = MappedRegion(anonymous: codeBytes + Codes.chunkRows * MemoryLayout<Float>.stride)
            bytes = region.base.assumingMemoryBound(to: UInt8.self)
            errors = (region.base + codeBytes).assumingMemoryBound(to: Float.self)
        }

        /// Rows that live in `region` at the given byte offsets.
        init(region: MappedRegion, bytesAt codes: Int, errorsAt errors: Int) {
            self.region = region
            bytes = (region.base + codes).assumingMemoryBound(to: UInt8.self)
            self.errors = (region.base + errors).assumingMemoryBound(to: Float.self)
        }
    }

    let dimension: Int
    private(set) var quantizer: ScalarQuantizer
    private(set) var chunks: [Chunk] = []
    /// Base addresses of `chunks`, as the scan kernel takes them.
    private var bases: [UnsafePointer<UInt8>?] = []
    /// Labels with room for a row.
    private(set) var count = 0
    /// Sum and count of the errors of the rows encoded: their mean tells how well the
    /// quantizer still fits the vectors.
    private(set) var errorSum: Double = 0
    private(set) var encodedRows = 0
    var meanError: Double { encodedRows == 0 ? 0 : errorSum / Double(encodedRows) }
    /// The mean error of the codes the quantizer made when it was trained (see
    /// `VectorIndex.quantizerServes`).
    var trainedMeanError: Double = 0

    init(quantizer: ScalarQuantizer) {
        dimension = quantizer.dimension
        self.quantizer = quantizer
    }

    /// Makes room for labels up to `count - 1`.
    mutating func reserve(_ count: Int) {
        while chunks.count * Self.chunkRows < count {
            let chunk = Chunk(dimension: dimension)
            chunks.append(chunk)
            bases.append(UnsafePointer(chunk.bytes))
        }
        self.count = max(self.count, count)
    }

    /// Encodes `vector` as the codes of `label` (a label not yet visible to any reader).
    mutating func set(_ label: Int64, _ vector: UnsafeBufferPointer<Float>) {
        reserve(Int(label) + 1)
        let chunk = chunks[Int(label) >> Self.chunkShift]
        let row = Int(label) & (Self.chunkRows - 1)
        let err = quantizer.encode(vector, into: chunk.bytes + row * dimension)
        chunk.errors[row] = err
        errorSum += Double(err)
        encodedRows += 1
    }

    /// The codes of `count` labels stored in `region`: their rows from byte `codesAt` on (d
    /// bytes each; chunk starts are page-aligned when `codesAt` is), their errors from
    /// `errorsAt` on (4-byte aligned). Full chunks stay in the region, so that nothing is
    /// read before a scan needs it; the last, partial chunk is copied into a chunk of its own,
    /// which rows of new labels go on to fill.
    init(quantizer: ScalarQuantizer, trainedMeanError: Double, count: Int, region: MappedRegion, codesAt: Int, errorsAt: Int) {
        self.init(quantizer: quantizer)
        self.trainedMeanError = trainedMeanError
        let d = dimension
        precondition(codesAt + count * d <= region.length && errorsAt + count * 4 <= region.length)
        let full = count / Self.chunkRows
        for i in 0..<full {
            let chunk = Chunk(region: region, bytesAt: codesAt + i * Self.chunkRows * d,
                              errorsAt: errorsAt + i * Self.chunkRows * 4)
            chunks.append(chunk)
            bases.append(UnsafePointer(chunk.bytes))
        }
        self.count = full * Self.chunkRows
        let rest = count - full * Self.chunkRows
        if rest > 0 {
            reserve(count)
            let last = chunks[full]
            last.bytes.update(from: (region.base + codesAt + full * Self.chunkRows * d).assumingMemoryBound(to: UInt8.self),
                              count: rest * d)
            UnsafeMutableRawPointer(last.errors).copyMemory(from: region.base + errorsAt + full * Self.chunkRows * 4,
                                                            byteCount: rest * 4)
        }
        forEachChunk { _, errors in errorSum += errors.reduce(0.0) { $0 + Double($1) } }
        encodedRows = count
    }

    /// Whether the row and error of `label` are what the quantizer makes of `vector` (the
    /// codes on disk are read unverified; `check` compares them with the vectors).
    func matches(_ label: Int64, _ vector: UnsafeBufferPointer<Float>) -> Bool {
        guard label >= 0 && Int(label) < count else { return false }
        let chunk = chunks[Int(label) >> Self.chunkShift]
        let row = Int(label) & (Self.chunkRows - 1)
        var expected = [UInt8](repeating: 0, count: dimension)
        let err = expected.withUnsafeMutableBufferPointer { quantizer.encode(vector, into: $0.baseAddress!) }
        return err == chunk.errors[row] && expected.withUnsafeBufferPointer {
            memcmp($0.baseAddress!, chunk.bytes + row * dimension, dimension) == 0
        }
    }

    /// The error bound of `label`'s codes.
    func error(_ label: Int64) -> Float {
        chunks[Int(label) >> Self.chunkShift].errors[Int(label) & (Self.chunkRows - 1)]
    }

    /// Visits the rows of labels `0..<count` chunk by chunk (codes, errors, rows in chunk).
    func forEachChunk(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        for (i, chunk) in chunks.enumerated() {
            let rows = min(Self.chunkRows, count - i * Self.chunkRows)
            guard rows > 0 else { break }
            try body(UnsafeBufferPointer(start: chunk.bytes, count: rows * dimension), UnsafeBufferPointer(start: chunk.errors, count: rows))
        }
    }

    /// Approximate similarities of `query` (prepared by the quantizer) to `labels`.
    func approximate(_ prepared: (qs: [Float], bias: Float), _ labels: [Int64]) -> [Float] {
        guard !labels.isEmpty else { return [] }
        var out = [Float](repeating: 0, count: labels.count)
        prepared.qs.withUnsafeBufferPointer { qs in
            bases.withUnsafeBufferPointer { b in
                cfaiss_sq8_scores(qs.baseAddress, prepared.bias, b.baseAddress, Int32(Self.chunkShift), dimension,
                                  labels, labels.count, &out)
            }
        }
        return out
    }

    /// The approximate similarity of one label.
    func approximate(_ prepared: (qs: [Float], bias: Float), _ label: Int64) -> Float {
        var out: Float = 0
        var l = label
        prepared.qs.withUnsafeBufferPointer { qs in
            bases.withUnsafeBufferPointer { b in
                cfaiss_sq8_scores(qs.baseAddress, prepared.bias, b.baseAddress, Int32(Self.chunkShift), dimension, &l, 1, &out)
            }
        }
        return out
    }
}
