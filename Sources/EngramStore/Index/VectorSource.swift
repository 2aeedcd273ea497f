import EngramBase
import Foundation

/// Where full vectors are read from, by label: the vector file, or (for a format-1 database
/// opened read-only, before its migration) the vectors that were inside its records.
protocol VectorSource: AnyObject, Sendable {
    var dimension: Int { get }
    /// Reads the row of `label` into `out` (room for `dimension` floats).
    func read(_ label: Int64, into out: UnsafeMutablePointer<Float>) throws
    /// Reads `labels` in order into a new row-major array.
    func rows(_ labels: ArraySlice<Int64>) throws -> [Float]
}

extension VectorFile: VectorSource {}

/// The vectors of a format-1 database's records, held in memory while it is open read-only.
final class InlineVectors: VectorSource, @unchecked Sendable {
    let dimension: Int
    /// Written only while the database opens, read-only afterwards.
    private var byLabel: [Int64: [Float]] = [:]

    init(dimension: Int) { self.dimension = dimension }

    func set(_ label: Int64, _ vector: [Float]) { byLabel[label] = vector }

    func read(_ label: Int64, into out: UnsafeMutablePointer<Float>) throws {
        guard let row = byLabel[label] else { throw EngramError.corrupt("no vector for label \(label)") }
        row.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: dimension) }
    }

    func rows(_ labels: ArraySlice<Int64>) throws -> [Float] {
        let d = dimension
        return try [Float](unsafeUninitializedCapacity: labels.count * d) { buffer, count in
            for (i, label) in labels.enumerated() { try read(label, into: buffer.baseAddress! + i * d) }
            count = labels.count * d
        }
    }
}
