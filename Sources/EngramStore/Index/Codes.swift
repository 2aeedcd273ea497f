import CFaiss
import Foundation

/// The quantized vectors, by label: what scans read instead of the full vectors (a quarter
/// of the bytes), each with the bound of its error (see `ScalarQuantizer`).
///
/// Rows live in fixed-size chunks that are never moved. A label's row is written once,
/// before the label is published, and never changed: so copies of this value (the views
/// that queries read) share the chunks, and a writer appending rows for new labels copies
/// nothing. A rebuild makes new `Codes` altogether.
struct Codes: @unchecked Sendable {
    /// Rows a chunk holds: 2^chunkShift.
    static let chunkShift = 12
    static let chunkRows = 1 << chunkShift

    /// A block of `chunkRows` rows of codes and their errors.
    final class Chunk: @unchecked Sendable {
        let bytes: UnsafeMutablePointer<UInt8>
        let errors: UnsafeMutablePointer<Float>
        /// A chunk of zeros (calloc'd: pages that are never written cost no memory).
        init(dimension: Int) {
            bytes = calloc(Codes.chunkRows * dimension, 1)!.assumingMemoryBound(to: UInt8.self)
            errors = calloc(Codes.chunkRows, 4)!.assumingMemoryBound(to: Float.self)
        }
        deinit {
            free(bytes)
            free(errors)
        }
    }

    let dimension: Int
    private(set) var quantizer: ScalarQuantizer
    private(set) var chunks: [Chunk] = []
    /// Base addresses of `chunks`, as the scan kernel takes them.
    private var bases: [UnsafePointer<UInt8>?] = []
    /// Labels with room for a row.
    private(set) var count = 0
    /// The largest error of any label encoded so far.
    private(set) var maxError: Float = 0

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
        maxError = max(maxError, err)
    }

    /// Fills an empty value with `count` rows: `bytes` fills each chunk's codes (rows × d
    /// bytes) in order, then `errors` each chunk's errors (rows × 4 bytes).
    mutating func load(count: Int, bytes: (UnsafeMutableRawBufferPointer) throws -> Void,
                       errors: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        precondition(chunks.isEmpty, "codes are loaded into an empty value")
        reserve(count)
        for (i, chunk) in chunks.enumerated() {
            let rows = min(Self.chunkRows, count - i * Self.chunkRows)
            try bytes(UnsafeMutableRawBufferPointer(start: chunk.bytes, count: rows * dimension))
        }
        for (i, chunk) in chunks.enumerated() {
            let rows = min(Self.chunkRows, count - i * Self.chunkRows)
            try errors(UnsafeMutableRawBufferPointer(start: chunk.errors, count: rows * 4))
            for r in 0..<rows { maxError = max(maxError, chunk.errors[r]) }
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
