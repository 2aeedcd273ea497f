import CFaiss
import EngramBase
import Testing

@Suite("Scan kernels")
struct KernelTests {
    /// Every variant of the 8-bit scan the CPU runs gives the sums a double-precision reference
    /// gives, to float rounding; rows are spread over chunks of 16, and the dimensions cover
    /// the vector loops and their tails.
    @Test("each SIMD variant of the 8-bit scan matches the reference", arguments: [384, 100, 37, 3])
    func sq8Variants(dimension d: Int) {
        var rng = SeededRandom(seed: 77)
        let shift: Int32 = 4, rowsPerChunk = 16, chunkCount = 5
        let chunks = (0..<chunkCount).map { _ in (0..<rowsPerChunk * d).map { _ in UInt8(rng.next() % 256) } }
        let qs = (0..<d).map { _ in Float(rng.gaussian()) * 0.01 }
        let bias: Float = 0.25
        let labels = (0..<60).map { _ in Int64(rng.next() % UInt64(rowsPerChunk * chunkCount)) }
        let reference = labels.map { label -> (sum: Double, magnitude: Double) in
            let row = chunks[Int(label) >> Int(shift)][(Int(label) & (rowsPerChunk - 1)) * d..<(Int(label) & (rowsPerChunk - 1) + 1) * d]
            let terms = zip(qs, row).map { Double($0) * Double($1) }
            return (Double(bias) + terms.reduce(0, +), terms.reduce(0) { $0 + abs($1) } + Double(abs(bias)))
        }
        var levels = [Int32(cfaiss_simd_portable)]
        if cfaiss_simd_level() >= Int32(cfaiss_simd_avx2) { levels.append(Int32(cfaiss_simd_avx2)) }
        if cfaiss_simd_level() >= Int32(cfaiss_simd_avx512) { levels.append(Int32(cfaiss_simd_avx512)) }
        for level in levels {
            var out = [Float](repeating: .nan, count: labels.count)
            let pointers = chunks.map { $0.withUnsafeBufferPointer { UnsafePointer($0.baseAddress) } }
            withExtendedLifetime(chunks) {
                pointers.withUnsafeBufferPointer { bases in
                    cfaiss_sq8_scores_at(level, qs, bias, bases.baseAddress, shift, d, labels, labels.count, &out)
                }
            }
            for (i, want) in reference.enumerated() {
                // Float sums in any order stay within d ulps of the magnitude of their terms.
                #expect(abs(Double(out[i]) - want.sum) <= want.magnitude * Double(d) * 1.2e-7, "level \(level), row \(i)")
            }
        }
    }
}
