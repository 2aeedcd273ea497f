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

    /// A search of several queries on a flat index (the IVF probe of queries that arrived
    /// together) scores a few at once against each row; each query's product must be the bits
    /// its search alone gives (so that its lists and results are the same), and match a
    /// double-precision reference to float rounding. Every variant the CPU runs; counts of
    /// queries that fill the kernels' groups and leave a remainder; dimensions that reach the
    /// vector loops' tails.
    @Test("flat scan: queries scored together give the bits of each alone, every SIMD variant", arguments: [384, 100, 37, 3])
    func dotsTogether(dimension d: Int) {
        var rng = SeededRandom(seed: 91)
        let row = (0..<d).map { _ in Float(rng.gaussian()) }
        var levels = [Int32(cfaiss_simd_portable)]
        if cfaiss_simd_level() >= Int32(cfaiss_simd_avx2) { levels.append(Int32(cfaiss_simd_avx2)) }
        if cfaiss_simd_level() >= Int32(cfaiss_simd_avx512) { levels.append(Int32(cfaiss_simd_avx512)) }
        for n in 1...9 {
            let queries = (0..<n * d).map { _ in Float(rng.gaussian()) }
            for level in levels {
                var together = [Float](repeating: .nan, count: n), alone = together
                cfaiss_dot_many_at(level, queries, n, row, d, &together, &alone)
                #expect(together.map(\.bitPattern) == alone.map(\.bitPattern), "level \(level), \(n) queries")
                for j in 0..<n {
                    let terms = (0..<d).map { Double(queries[j * d + $0]) * Double(row[$0]) }
                    let magnitude = terms.reduce(0) { $0 + abs($1) }
                    #expect(abs(Double(together[j]) - terms.reduce(0, +)) <= magnitude * Double(d) * 1.2e-7, "level \(level), query \(j) of \(n)")
                }
            }
        }
    }

    /// A search of any number of queries on a flat index gives each query the labels and the
    /// score bits its search alone gives (the IVF probe of a batch of queries depends on it):
    /// counts below, at and well past a pass of the kernels, and past where FAISS's own flat
    /// search would take a BLAS product.
    @Test("flat index: a search of many queries gives each the bits of its search alone", arguments: [5, 16, 21, 40])
    func flatSearchTogether(queries n: Int) throws {
        var rng = SeededRandom(seed: 92)
        let d = 384, rows = 300, k = 7
        var index: OpaquePointer?
        #expect(cfaiss_index_factory(Int32(d), "IDMap2,Flat", 1, &index) == nil)
        defer { cfaiss_index_free(index) }
        let base = (0..<rows * d).map { _ in Float(rng.gaussian()) }
        #expect(cfaiss_index_add_with_ids(index, Int64(rows), base, (0..<Int64(rows)).map { $0 + 1000 }) == nil)
        let queries = (0..<n * d).map { _ in Float(rng.gaussian()) }
        var params = cfaiss_search_params(nprobe: 0, ef_search: 0, bitmap: nil, bitmap_bytes: 0)
        var distances = [Float](repeating: .nan, count: n * k), labels = [Int64](repeating: -1, count: n * k)
        #expect(cfaiss_index_search(index, Int64(n), queries, Int64(k), &params, &distances, &labels) == nil)
        for j in 0..<n {
            var one = [Float](repeating: .nan, count: k), oneLabels = [Int64](repeating: -1, count: k)
            let query = Array(queries[(j * d)..<((j + 1) * d)])
            #expect(cfaiss_index_search(index, 1, query, Int64(k), &params, &one, &oneLabels) == nil)
            #expect(Array(labels[(j * k)..<((j + 1) * k)]) == oneLabels, "query \(j) of \(n)")
            #expect(distances[(j * k)..<((j + 1) * k)].map(\.bitPattern) == one.map(\.bitPattern), "query \(j) of \(n)")
        }
    }

    /// The 8-bit codes of a vector: each the nearest code, halves rounded away from zero,
    /// clamped to 0…255, and the squared error summed in the order of the dimensions, bit for
    /// bit (`check` compares stored codes with re-encoded ones). Values exactly halfway between
    /// two codes (a power-of-two step makes them exact), below and above the range included.
    @Test("8-bit encoding: nearest code, halves away from zero, clamped; the error summed in order", arguments: [384, 37, 3])
    func sq8Encode(dimension d: Int) {
        let seed: UInt64 = 20_261_203
        print("sq8Encode seed \(seed)")
        var rng = SeededRandom(seed: seed)
        let vmin = (0..<d).map { _ in Float(-1 + Double(rng.next() % 64) / 128) }
        let step = (0..<d).map { j in j % 2 == 0 ? Float(1) / 128 : Float(Double(rng.next() % 1000 + 1) * 1e-5) }
        for trial in 0..<200 {
            let x = (0..<d).map { j -> Float in
                switch rng.next() % 4 {
                case 0: return vmin[j] + (Float(rng.next() % 255) + 0.5) * step[j]   // a halfway point (exact when the step is 2^-7)
                case 1: return vmin[j] - Float(rng.next() % 100) * 1e-3 - 1e-4       // below the range
                case 2: return vmin[j] + Float(256 + rng.next() % 100) * step[j]     // above it
                default: return vmin[j] + Float(Double(rng.next() % 1_000_000) / 1_000_000 * 255) * step[j]
                }
            }
            var codes = [UInt8](repeating: 0, count: d)
            let err = cfaiss_sq8_encode(x, vmin, step, d, &codes)
            var wantErr = 0.0
            for j in 0..<d {
                let v = (x[j] - vmin[j]) / step[j]
                let c = min(255, max(0, v.rounded(.toNearestOrAwayFromZero)))
                #expect(codes[j] == UInt8(c), "trial \(trial), dimension \(j): v \(v)")
                let diff = Double(x[j]) - (Double(vmin[j]) + Double(c) * Double(step[j]))
                wantErr += diff * diff
            }
            #expect(err.bitPattern == wantErr.bitPattern, "trial \(trial)")
        }
    }

    /// The nearest centroids of `rows` (row-major, `d` floats each) by `cfaiss_centroids_nearest`,
    /// with or without the integer products, and whether they were used.
    static func nearest(_ rows: [Float], _ centroids: [Float], d: Int, integer: Bool) throws -> (indexes: [Int64], integer: Bool) {
        var handle: OpaquePointer?
        #expect(cfaiss_centroids_new(centroids, Int64(centroids.count / d), Int64(d), integer ? 1 : 0, &handle) == nil)
        let c = try #require(handle)
        defer { cfaiss_centroids_free(c) }
        var out = [Int64](repeating: -1, count: rows.count / d)
        #expect(cfaiss_centroids_nearest(c, rows, Int64(rows.count / d), 2, &out) == nil)
        return (out, cfaiss_centroids_integer(c) != 0)
    }

    /// Assignment to the nearest centroid: the centroid with the largest inner product, the
    /// first of equal ones, with and without the integer products (AVX-512 VNNI). Small
    /// integers make every product exact in any order of summation, so the expected index is
    /// exact and ties are common (a centroid repeated, products that happen to be equal); the
    /// centroid counts cover the vector loops and their tails, the row counts cross blocks.
    @Test("nearest centroid: the largest product, the first of equals, with and without integer products",
          arguments: [(3, 5), (8, 40), (37, 300), (1024, 600)])
    func nearestCentroid(centroids k: Int, rows n: Int) throws {
        let seed: UInt64 = 20_261_204
        print("nearestCentroid seed \(seed)")
        var rng = SeededRandom(seed: seed)
        let d = 64
        func small() -> Float { Float(Int(rng.next() % 7) - 3) }
        var centroids = (0..<k * d).map { _ in small() }
        if k > 1 { centroids.replaceSubrange((k - 1) * d..<k * d, with: centroids[0..<d]) } // the last repeats the first
        let rows = (0..<n * d).map { _ in small() }
        var expected: [Int64] = []
        for i in 0..<n {
            let products = (0..<k).map { c in (0..<d).reduce(0) { $0 + Int(rows[i * d + $1]) * Int(centroids[c * d + $1]) } }
            expected.append(Int64(products.firstIndex(of: products.max()!)!))
        }
        for integer in [false, true] {
            let (got, used) = try Self.nearest(rows, centroids, d: d, integer: integer)
            print("nearestCentroid: \(k) centroids, integer products \(used)")
            #expect(got == expected, "integer products \(used)")
        }
    }

    /// On unit vectors, with centroids in tight groups so that a row's best few are close
    /// (within the integers' error, as neighbouring IVF lists are), the integer products' bound
    /// keeps every answer that of the float products wherever the best centroid is ahead of
    /// the next by more than float rounding (checked to fail without the bound).
    @Test("nearest centroid: integer products give the float products' answer on unit vectors")
    func nearestCentroidUnitVectors() throws {
        let seed: UInt64 = 20_261_205
        print("nearestCentroidUnitVectors seed \(seed)")
        var rng = SeededRandom(seed: seed)
        let d = 384, k = 256, n = 2000
        func unit(_ v: [Float]) -> [Float] {
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
        let bases = (0..<k / 8).map { _ in unit((0..<d).map { _ in Float(rng.gaussian()) }) }
        let centroids = (0..<k).flatMap { c in unit((0..<d).map { bases[c / 8][$0] + 0.03 * Float(rng.gaussian()) }) }
        let rows = (0..<n).flatMap { _ in
            let base = bases[Int(rng.next() % UInt64(bases.count))]
            return unit((0..<d).map { base[$0] + 0.03 * Float(rng.gaussian()) })
        }
        let floats = try Self.nearest(rows, centroids, d: d, integer: false)
        let integers = try Self.nearest(rows, centroids, d: d, integer: true)
        var compared = 0
        for i in 0..<n {
            let products = (0..<k).map { c in (0..<d).reduce(0.0) { $0 + Double(rows[i * d + $1]) * Double(centroids[c * d + $1]) } }
            let sorted = products.sorted(by: >)
            guard sorted[0] - sorted[1] > 1e-5 else { continue }
            #expect(integers.indexes[i] == floats.indexes[i], "row \(i)")
            #expect(Double(products[Int(floats.indexes[i])]) == sorted[0], "row \(i)")
            compared += 1
        }
        print("nearestCentroidUnitVectors: integer products \(integers.integer), \(compared) of \(n) rows compared")
        #expect(compared >= n * 9 / 10)
    }

    /// No centroids is an error with a message (not a crash), and no rows an answer of none.
    @Test("nearest centroid: no centroids is refused, no rows writes nothing")
    func nearestCentroidLimits() throws {
        var handle: OpaquePointer?
        let error = try #require(cfaiss_centroids_new([], 0, 32, 1, &handle))
        defer { cfaiss_free_error(error) }
        #expect(String(cString: error).contains("no centroids") && handle == nil)
        #expect(cfaiss_centroids_new([Float](repeating: 1, count: 64), 2, 32, 1, &handle) == nil)
        let c = try #require(handle)
        defer { cfaiss_centroids_free(c) }
        var out: [Int64] = [-7]
        #expect(cfaiss_centroids_nearest(c, [], 0, 2, &out) == nil)
        #expect(out == [-7])
    }
}
