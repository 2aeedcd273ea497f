import CKernels
import EngramBase
import EngramGLM
import Foundation
import Testing

/// The CPU kernels (CKernels), every instruction-set variant this machine has: against an
/// independent reference (the engine's dequantization, `dequantize`, and sums in Double) and
/// against the portable variant on the same inputs.
@Suite("CPU kernels: every SIMD variant against the reference and the portable variant")
struct KernelVariantTests {
    /// The variants this CPU can run, portable first.
    static let levels = Array(0...Int(ek_simd_cpu_level()))
    static let seed: UInt64 = {
        let seed = ProcessInfo.processInfo.environment["ENGRAM_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("KernelVariantTests seed: \(seed) (replay with ENGRAM_TEST_SEED=\(seed)); variants: "
            + levels.map { String(cString: ek_simd_name(Int32($0))) }.joined(separator: ", "))
        return seed
    }()

    /// Row bytes of `type` with random quants and scales in a sane range (|scale| ≤ 0.02),
    /// so that every value is finite.
    static func randomRows(_ type: GGMLType, rows: Int, cols: Int, rng: inout SeededRandom) -> [UInt8] {
        var bytes = (0..<rows * type.rowBytes(cols)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        func half(_ at: Int) {
            let h = Float16(Float.random(in: -0.02...0.02, using: &rng)).bitPattern
            bytes[at] = UInt8(h & 0xFF)
            bytes[at + 1] = UInt8(h >> 8)
        }
        let blocks = rows * cols / type.blockSize
        for b in 0..<blocks {
            let p = b * type.blockBytes
            switch type {
            case .f16: half(p)
            case .bf16: bytes[p + 1] = UInt8.random(in: 0x3C...0x3F, using: &rng) | (bytes[p + 1] & 0x80)
            case .f32:
                let v = Float.random(in: -1...1, using: &rng).bitPattern
                for i in 0..<4 { bytes[p + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) }
            case .q4_0, .q5_0, .q8_0: half(p)
            case .q4_1, .q5_1, .q4_K, .q5_K: half(p); half(p + 2)
            case .q6_K: half(p + 208)
            }
        }
        return bytes
    }

    /// An activation of `n` values, some blocks small and one block zero, so that every
    /// scale path of the quantization is taken.
    static func activation(_ n: Int, rng: inout SeededRandom) -> [Float] {
        (0..<n).map { i in
            let block = i / 32
            if block == 1 { return 0 }
            return Float(rng.gaussian()) * (block % 3 == 0 ? 3 : 0.01)
        }
    }

    struct Quantized {
        var q: [Int8], d: [Float], s: [Float]
        let count: Int
        /// One term (`ek_quantize_q8`) or two (`ek_quantize_q8_wide`).
        init(_ x: [Float], level: Int, terms: Int = 1) {
            count = x.count
            q = [Int8](repeating: 0, count: terms * x.count)
            d = [Float](repeating: 0, count: terms * x.count / 32)
            s = d
            if terms == 2 {
                ek_quantize_q8_wide_at(Int32(level), x, Int64(x.count), Int64(x.count), &q, &d, &s)
            } else {
                ek_quantize_q8_at(Int32(level), x, Int64(x.count), &q, &d, &s)
            }
        }
        var terms: Int { q.count / count }
        /// The quants widened to 16 bits by variant `level` (`ek_widen_q8`).
        func widened(level: Int) -> [Int16] {
            var wide = [Int16](repeating: 0, count: count)
            ek_widen_q8_at(Int32(level), Int32(terms), q, Int64(count), Int64(count), &wide)
            return wide
        }
        /// The values the quantized activation stands for (the sum of its terms).
        var values: [Double] {
            (0..<count).map { i in (0..<terms).reduce(0.0) { $0 + Double(q[$1 * count + i]) * Double(d[($1 * count + i) / 32]) } }
        }
    }

    static let quantizedTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]
    static let floatTypes: [GGMLType] = [.f32, .f16, .bf16]

    @Test("every GGML type has a matrix-vector kernel")
    func everyTypeHasAKernel() {
        for type in GGMLType.allCases {
            #expect(ek_type_takes_q8(Int32(type.rawValue)) == (Self.quantizedTypes.contains(type) ? 1 : 0), "\(type)")
        }
    }

    @Test("quantizing the activation in one term and in two: every variant gives the portable variant's bytes, which follow the rule")
    func quantization() {
        var rng = SeededRandom(seed: Self.seed)
        var x = Self.activation(32 * 41, rng: &rng)
        x[32 * 5 + 7] = .nan
        x[32 * 6 + 3] = -.infinity
        for j in 0..<32 { x[32 * 7 + j] = 1e-38 * Float(j) } // scale below the normal range
        for j in 0..<32 { x[32 * 8 + j] = Float(j) - 15.5 } // exact halves (max 15.5 → ×127/15.5): ties to even
        let portable = Quantized(x, level: 0)
        for b in 0..<x.count / 32 {
            let block = x[(32 * b)..<(32 * b + 32)]
            if block.contains(where: { !$0.isFinite }) {
                #expect(portable.d[b].isNaN && portable.s[b].isNaN && portable.q[(32 * b)..<(32 * b + 32)].allSatisfy { $0 == 0 })
                continue
            }
            let amax = block.map(abs).max()!, scale = amax / 127
            let inv: Float = scale.isNormal ? 127 / amax : 0
            let expected = block.map { Int8(($0 * inv).rounded(.toNearestOrEven)) }
            #expect(Array(portable.q[(32 * b)..<(32 * b + 32)]) == expected, "block \(b)")
            // The scale is kept at half precision (as in ggml's Q8 blocks).
            #expect(portable.d[b] == Float(Float16(scale.isNormal ? scale : 0)))
            #expect(portable.s[b] == portable.d[b] * Float(expected.reduce(0) { $0 + Int($1) }))
        }
        // Two terms: the 16-bit quants x·(32,512/max|x|) rounded to nearest even, split into
        // a high byte (rounded, ties up) and what it leaves; the first term's scale and sum those
        // of the high byte alone, the second's those of the whole.
        let portableTwo = Quantized(x, level: 0, terms: 2)
        let blocks = x.count / 32
        for b in 0..<blocks {
            let block = x[(32 * b)..<(32 * b + 32)]
            let hi = Array(portableTwo.q[(32 * b)..<(32 * b + 32)]), lo = Array(portableTwo.q[(x.count + 32 * b)..<(x.count + 32 * b + 32)])
            if block.contains(where: { !$0.isFinite }) {
                #expect(portableTwo.d[b].isNaN && portableTwo.d[blocks + b].isNaN && portableTwo.s[blocks + b].isNaN
                    && (hi + lo).allSatisfy { $0 == 0 }, "block \(b)")
                continue
            }
            let amax = block.map(abs).max()!, step = amax / 32512
            let inv: Float = step.isNormal ? 32512 / amax : 0
            let wide = block.map { Int(($0 * inv).rounded(.toNearestOrEven)) }
            let high = wide.map { ($0 + 128) >> 8 }
            #expect(hi.map(Int.init) == high && lo.map(Int.init) == zip(wide, high).map { $0 - 256 * $1 }, "block \(b)")
            #expect(high.allSatisfy { abs($0) <= 127 })
            let kept: Float = step.isNormal ? step : 0
            #expect(portableTwo.d[blocks + b] == kept && portableTwo.d[b] == 256 * kept, "block \(b)")
            #expect(portableTwo.s[blocks + b] == kept * Float(wide.reduce(0, +))
                && portableTwo.s[b] == 256 * kept * Float(high.reduce(0, +)), "block \(b)")
        }
        for level in Self.levels.dropFirst() {
            for (v, reference) in [(Quantized(x, level: level), portable), (Quantized(x, level: level, terms: 2), portableTwo)] {
                #expect(v.q == reference.q && v.d.elementsEqual(reference.d) { $0 == $1 || ($0.isNaN && $1.isNaN) }
                    && v.s.elementsEqual(reference.s) { $0 == $1 || ($0.isNaN && $1.isNaN) }, "variant \(level), \(v.terms) terms")
            }
        }
        // Widened to 16 bits (for the tile kernels that take 16-bit products): one term its
        // quants, two the 16-bit quants 256·q₁ + q₂, each 4 values as (x₀, x₂, x₁, x₃).
        let order = [0, 2, 1, 3]
        for level in Self.levels {
            for v in [portable, portableTwo] {
                let expected = (0..<x.count).map { j -> Int16 in
                    let from = j - j % 4 + order[j % 4]
                    return Int16(v.terms == 2 ? 256 * Int(v.q[from]) + Int(v.q[x.count + from]) : Int(v.q[from]))
                }
                #expect(v.widened(level: level) == expected, "variant \(level), \(v.terms) terms")
            }
        }
    }

    /// Runs `type`'s kernel of variant `level` over `rows` rows.
    static func matvec(_ type: GGMLType, _ w: [UInt8], rows: Int, cols: Int, x: [Float], level: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: rows)
        let done: Int32
        if Self.quantizedTypes.contains(type) {
            let xq = Quantized(x, level: level)
            done = ek_matvec_q8_at(Int32(level), Int32(type.rawValue), w, type.rowBytes(cols), Int64(rows), Int64(cols), xq.q, xq.d, xq.s, &y)
        } else {
            done = ek_matvec_f32_at(Int32(level), Int32(type.rawValue), w, type.rowBytes(cols), Int64(rows), Int64(cols), x, &y)
        }
        #expect(done == 1)
        return y
    }

    @Test("matrix-vector products of every type and variant match dequantize-then-dot in Double",
          arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K, .f32, .f16, .bf16])
    func matvec(_ type: GGMLType) throws {
        var rng = SeededRandom(seed: Self.seed ^ UInt64(type.rawValue))
        // 1,536 columns: six K-quant blocks, 48 blocks of 32 (an even count) ...
        // and 544: 17 blocks of 32 (an odd count, the kernels' tail), for the 32-value types.
        let widths = type.blockSize == 256 ? [1536, 256] : [1536, 544, type.blockSize == 1 ? 37 : 32]
        for cols in widths {
            let rows = 19
            let w = Self.randomRows(type, rows: rows, cols: cols, rng: &rng)
            let x = Self.activation(cols, rng: &rng)
            // The reference: the dequantized rows times the activation the kernel sees (the
            // quantized one for the quantized types), summed in Double.
            let xs = Self.quantizedTypes.contains(type) ? Quantized(x, level: 0).values : x.map(Double.init)
            var row = [Float](repeating: 0, count: cols)
            var expected = [Double](), magnitude = [Double]()
            for r in 0..<rows {
                w.withUnsafeBytes { dequantize(type, $0.baseAddress! + r * type.rowBytes(cols), &row, count: cols) }
                expected.append(zip(row, xs).reduce(0) { $0 + Double($1.0) * $1.1 })
                magnitude.append(zip(row, xs).reduce(0) { $0 + abs(Double($1.0) * $1.1) })
            }
            let portable = Self.matvec(type, w, rows: rows, cols: cols, x: x, level: 0)
            for level in Self.levels {
                let y = level == 0 ? portable : Self.matvec(type, w, rows: rows, cols: cols, x: x, level: level)
                for r in 0..<rows {
                    // Float sums of at most `cols` terms: a few float roundings of the terms' size.
                    let tolerance = 1e-5 * magnitude[r] + 1e-30
                    #expect(abs(Double(y[r]) - expected[r]) <= tolerance,
                            "\(type) cols \(cols) variant \(level) row \(r): \(y[r]) vs \(expected[r]) (±\(tolerance))")
                    #expect(abs(y[r] - portable[r]) <= Float(tolerance), "\(type) variant \(level) against portable, row \(r)")
                }
            }
        }
    }

    @Test("row-interleaved tiles: products of one and of several tokens, one or two activation terms, every variant, match dequantize-then-dot",
          arguments: [GGMLType.q4_0, .q4_1, .q8_0], [544, 2080])
    func tiles(_ type: GGMLType, cols: Int) throws {
        var rng = SeededRandom(seed: Self.seed ^ 0x7111e5 ^ UInt64(type.rawValue) ^ UInt64(cols))
        // Three groups of 16; 17 blocks, or 65 (past the batched product's 64 blocks of scaled
        // sums at a time); tokens past one register tile.
        let rows = 48, tokens = 11
        let w = Self.randomRows(type, rows: rows, cols: cols, rng: &rng)
        var tiles = [UInt8](repeating: 0, count: rows / 16 * cols / 32 * Int(ek_tile_bytes(Int32(type.rawValue))))
        #expect(ek_tiles_pack(Int32(type.rawValue), w, type.rowBytes(cols), Int64(rows / 16), Int64(cols / 32), &tiles) == 1)
        let x = (0..<tokens).flatMap { _ in Self.activation(cols, rng: &rng) }
        var row = [Float](repeating: 0, count: cols)
        let dequantized = (0..<rows).map { r in
            w.withUnsafeBytes { dequantize(type, $0.baseAddress! + r * type.rowBytes(cols), &row, count: cols) }
            return row
        }
        for terms in [1, 2] {
            let xq = Quantized(x, level: 0, terms: terms), values = xq.values
            if terms == 2 {
                // Half a step of max/32,512, plus three float roundings of 2⁻²⁴ (the step,
                // 32,512/max and the product) on up to 32,512 steps.
                for i in x.indices where x[i].isFinite {
                    let block = x[(i / 32 * 32)..<(i / 32 * 32 + 32)].map { abs(Double($0)) }.max()!
                    #expect(abs(values[i] - Double(x[i])) <= block / 32512 * (0.5 + 3 * 32512 * 0x1p-24), "value \(i)")
                }
            }
            var expected = [[Double]](repeating: [], count: tokens), magnitude = expected
            for r in 0..<rows {
                for t in 0..<tokens {
                    let xs = values[(t * cols)..<((t + 1) * cols)]
                    expected[t].append(zip(dequantized[r], xs).reduce(0) { $0 + Double($1.0) * $1.1 })
                    magnitude[t].append(zip(dequantized[r], xs).reduce(0) { $0 + abs(Double($1.0) * $1.1) })
                }
            }
            for level in Self.levels {
                var many = [Float](repeating: .nan, count: tokens * rows)
                ek_tiles_matmul_at(Int32(level), Int32(type.rawValue), tiles, Int64(rows / 16), Int64(cols), Int64(tokens),
                                   Int32(terms), xq.q, xq.d, xq.s, xq.widened(level: level), &many, Int64(rows))
                for t in 0..<tokens {
                    for r in 0..<rows {
                        let tolerance = 1e-5 * magnitude[t][r] + 1e-30
                        #expect(abs(Double(many[t * rows + r]) - expected[t][r]) <= tolerance,
                                "\(type) terms \(terms) variant \(level) token \(t) row \(r)")
                    }
                }
                // A token alone gives the bits it gets within a batch (the first: in a whole
                // register block of tokens; the last: in the rest).
                for t in [0, tokens - 1] {
                    let one = Quantized(Array(x[(t * cols)..<((t + 1) * cols)]), level: 0, terms: terms)
                    var alone = [Float](repeating: .nan, count: rows)
                    ek_tiles_matvec_at(Int32(level), Int32(type.rawValue), tiles, Int64(rows / 16), Int64(cols), Int32(terms),
                                       one.q, one.d, one.s, one.widened(level: level), &alone)
                    #expect(alone.map(\.bitPattern) == many[(t * rows)..<((t + 1) * rows)].map(\.bitPattern),
                            "\(type) terms \(terms) variant \(level) token \(t) alone")
                }
            }
        }
    }

    @Test("half-precision conversions: every binary16 value, and rounding to nearest even, in every variant")
    func halves() {
        let all = (0...UInt16.max).map { $0 }
        var rng = SeededRandom(seed: Self.seed)
        var floats = (0..<4096).map { _ in Float(rng.gaussian()) * 1000 }
        floats += [0, -0, 65504, 65519.99, 65520, -65520, 6.0e-8, 2.98e-8, 1e-10, .infinity, -.infinity, 1.00048828125, 1.00146484375]
        for level in Self.levels {
            var widened = [Float](repeating: 0, count: all.count)
            ek_f16_to_f32_at(Int32(level), all, &widened, Int64(all.count))
            let badWiden = all.indices.filter {
                let h = Float16(bitPattern: all[$0])
                return h.isNaN ? !widened[$0].isNaN : widened[$0].bitPattern != Float(h).bitPattern
            }
            #expect(badWiden.isEmpty, "variant \(level): \(badWiden.count) halves widened wrongly, first \(badWiden.first.map { String(all[$0], radix: 16) } ?? "")")
            var narrowed = [UInt16](repeating: 0, count: floats.count)
            ek_f32_to_f16_at(Int32(level), floats, &narrowed, Int64(floats.count))
            let badNarrow = floats.indices.filter { narrowed[$0] != Float16(floats[$0]).bitPattern }
            #expect(badNarrow.isEmpty, "variant \(level): \(badNarrow.count) floats narrowed wrongly, first \(badNarrow.first.map { floats[$0] } ?? 0)")
            var nan: UInt16 = 0
            ek_f32_to_f16_at(Int32(level), [Float.nan], &nan, 1)
            #expect(Float16(bitPattern: nan).isNaN)
        }
    }

    @Test("halves widened into columns: each value where its transposed place is, the rest untouched")
    func halvesIntoColumns() {
        var rng = SeededRandom(seed: Self.seed ^ 0xC011)
        // 37 rows of 300 halves, every 320th: past the 256 columns the function widens at a time.
        let rows = 37, cols = 300, stride = 320, ldd = 48
        let src = (0..<rows * stride).map { _ in Float16(Float(rng.gaussian())).bitPattern }
        var dst = [Float](repeating: .nan, count: cols * ldd)
        ek_f16_to_f32_columns(src, Int64(stride), Int64(rows), Int64(cols), &dst, Int64(ldd))
        var misplaced: [(column: Int, row: Int)] = []
        var touched = 0
        for c in 0..<cols {
            for r in 0..<rows {
                let expected = Float(Float16(bitPattern: src[r * stride + c]))
                if dst[c * ldd + r].bitPattern != expected.bitPattern { misplaced.append((c, r)) }
            }
            for r in rows..<ldd where !dst[c * ldd + r].isNaN { touched += 1 }
        }
        #expect(misplaced.isEmpty, "\(misplaced.count) values misplaced, first \(String(describing: misplaced.first))")
        #expect(touched == 0, "\(touched) values written past the rows")
    }

    @Test("attention of a group of heads, every variant, against Double; each head as it is alone")
    func attention() {
        var rng = SeededRandom(seed: Self.seed)
        // 5 heads (past one pass of the kernel's head groups) over 37 positions (past one tile of 32);
        // 64-wide heads, and 40 (no whole vectors).
        for hd in [64, 40] {
            let heads = 5, positions = 37
            let q = (0..<heads * hd).map { _ in Float(rng.gaussian()) }
            let k = (0..<positions * hd).map { _ in Float(rng.gaussian()) }, v = (0..<positions * hd).map { _ in Float(rng.gaussian()) }
            // The keys transposed, as the engine passes them: a position a column, rows of ldk
            // (a multiple of 16), what lies past the positions never used (NaN here).
            let ldk = 48
            var kt = [Float](repeating: .nan, count: hd * ldk)
            for j in 0..<positions { for d in 0..<hd { kt[d * ldk + j] = k[j * hd + d] } }
            let scale = 1 / Float(hd).squareRoot()
            for level in Self.levels {
                for n in [1, 2, 17, 32, 33, positions] {
                    var scores = [Float](repeating: 0, count: heads * ldk), out = [Float](repeating: .nan, count: heads * hd)
                    ek_attention_heads_at(Int32(level), q, Int64(heads), kt, Int64(ldk), v, Int64(hd), Int64(n), scale, &scores, &out)
                    for h in 0..<heads {
                        let logits = (0..<n).map { j in Double(scale) * (0..<hd).reduce(0.0) { $0 + Double(q[h * hd + $1]) * Double(k[j * hd + $1]) } }
                        let m = logits.max()!, total = logits.reduce(0) { $0 + exp($1 - m) }
                        for d in 0..<hd {
                            let expected = (0..<n).reduce(0.0) { $0 + exp(logits[$1] - m) / total * Double(v[$1 * hd + d]) }
                            // The weights are rounded to half precision: relative error ≤ 2⁻¹¹ each.
                            let bound = (0..<n).reduce(0.0) { $0 + exp(logits[$1] - m) / total * abs(Double(v[$1 * hd + d])) } * 6e-4 + 1e-6
                            #expect(abs(Double(out[h * hd + d]) - expected) <= bound, "hd \(hd) variant \(level) n \(n) head \(h) d \(d)")
                        }
                        // The head alone gives the same bits: grouping changes no result.
                        var alone = [Float](repeating: .nan, count: hd), scratch = [Float](repeating: 0, count: ldk)
                        Array(q[(h * hd)..<((h + 1) * hd)]).withUnsafeBufferPointer { qh in
                            ek_attention_heads_at(Int32(level), qh.baseAddress!, 1, kt, Int64(ldk), v, Int64(hd), Int64(n), scale,
                                                  &scratch, &alone)
                        }
                        #expect(alone.map(\.bitPattern) == out[(h * hd)..<((h + 1) * hd)].map(\.bitPattern),
                                "hd \(hd) variant \(level) n \(n) head \(h) alone")
                    }
                }
            }
        }
    }

    @Test("the engine's SiLU·up, every variant, against Double: a separate output, in place over the gate or the up values, and ahead of the gate in one buffer")
    func siluMul() {
        var rng = SeededRandom(seed: Self.seed ^ 0x5111)
        let n = 1000 // several of the kernel's chunks of 256, the last one partial
        let gate = (0..<n).map { i in Float(rng.gaussian()) * (i % 10 == 0 ? 8 : 1.5) }
        let up = (0..<n).map { _ in Float(rng.gaussian()) }
        let expected = (0..<n).map { i in Double(gate[i]) / (1 + exp(-Double(gate[i]))) * Double(up[i]) }
        for level in Self.levels {
            var out = [Float](repeating: .nan, count: n)
            ek_silu_mul_at(Int32(level), gate, up, &out, Int64(n))
            for i in 0..<n {
                // The polynomial exp's relative error (softmax's bound), then three roundings.
                #expect(abs(Double(out[i]) - expected[i]) <= 1e-6 * abs(expected[i]) + 1e-30, "silu·up(\(gate[i]), \(up[i])) variant \(level)")
            }
            var overGate = gate
            overGate.withUnsafeMutableBufferPointer { g in ek_silu_mul_at(Int32(level), g.baseAddress!, up, g.baseAddress!, Int64(n)) }
            #expect(overGate == out, "in place over the gate, variant \(level)")
            var overUp = up
            overUp.withUnsafeMutableBufferPointer { u in ek_silu_mul_at(Int32(level), gate, u.baseAddress!, u.baseAddress!, Int64(n)) }
            #expect(overUp == out, "in place over the up values, variant \(level)")
            // As a fused gate|up row is read: the output starts 100 values before the gate.
            var shared = [Float](repeating: 0, count: 100) + gate
            shared.withUnsafeMutableBufferPointer { b in ek_silu_mul_at(Int32(level), b.baseAddress! + 100, up, b.baseAddress!, Int64(n)) }
            #expect(Array(shared[0..<n]) == out, "ahead of the gate, variant \(level)")
        }
    }

    @Test("the engine's RMSNorm, every variant: the portable variant's bits, in place too, and within float roundings of Double")
    func rmsNorm() {
        var rng = SeededRandom(seed: Self.seed ^ 0x2315)
        // 3 rows of 579: the 8 lanes' tail of 3; one row far below and one far above 1.
        let rows = 3, n = 579
        let x = (0..<rows * n).map { i in Float(rng.gaussian()) * (i / n == 1 ? 1e-3 : i / n == 2 ? 300 : 1) }
        let w = (0..<n).map { _ in Float(rng.gaussian()) }
        let eps: Float = 1e-5
        var portable = [Float](repeating: .nan, count: rows * n)
        ek_rms_norm_at(0, x, w, &portable, Int64(rows), Int64(n), eps)
        for r in 0..<rows {
            let row = x[(r * n)..<((r + 1) * n)].map(Double.init)
            let scale = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(n) + Double(eps)).squareRoot()
            for j in 0..<n {
                let expected = row[j] * scale * Double(w[j])
                // The scale and two products each round once in floats.
                #expect(abs(Double(portable[r * n + j]) - expected) <= 3 * 0x1p-24 * abs(expected) + 1e-37, "row \(r) value \(j)")
            }
        }
        for level in Self.levels.dropFirst() {
            var y = [Float](repeating: .nan, count: rows * n)
            ek_rms_norm_at(Int32(level), x, w, &y, Int64(rows), Int64(n), eps)
            #expect(y.map(\.bitPattern) == portable.map(\.bitPattern), "variant \(level)")
        }
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { b in ek_rms_norm(b.baseAddress!, w, b.baseAddress!, Int64(rows), Int64(n), eps) }
        #expect(inPlace.map(\.bitPattern) == portable.map(\.bitPattern), "in place")
    }

    @Test("the embedder's GELU, LayerNorm and softmax, every variant, against Double")
    func elementwise() {
        var rng = SeededRandom(seed: Self.seed)
        let x = (0..<1000).map { i in Float(rng.gaussian()) * (i % 10 == 0 ? 8 : 1.5) }
        for level in Self.levels {
            var g = x
            ek_gelu_at(Int32(level), &g, Int64(g.count))
            for i in x.indices {
                let v = Double(x[i]), expected = 0.5 * v * (1 + erf(v / 2.0.squareRoot()))
                // erf: the formula's absolute error is ≤ 3e-7, but in float p¹⁶ (four squarings)
                // multiplies p's rounding by 16: 1.81e-6 at worst over ±10 in steps of 1e-5
                // (measured, every variant alike). Times |x|/2, then the result's rounding.
                #expect(abs(Double(g[i]) - expected) <= 1e-6 * abs(v) + 1.2e-7 * abs(expected) + 1e-30, "gelu(\(x[i])) variant \(level)")
            }
            let rows = 5, width = 200
            var s = x
            ek_softmax_rows_at(Int32(level), &s, Int64(rows), 150, Int64(width)) // 150 of each 200 (a stride)
            for r in 0..<rows {
                let row = x[(r * width)..<(r * width + 150)].map(Double.init)
                let m = row.max()!, total = row.reduce(0) { $0 + exp($1 - m) }
                for j in 0..<150 {
                    let expected = exp(row[j] - m) / total
                    #expect(abs(Double(s[r * width + j]) - expected) <= 1e-6 * expected + 1e-12, "softmax variant \(level)")
                }
                #expect(s[(r * width + 150)..<(r * width + 200)] == x[(r * width + 150)..<(r * width + 200)], "beyond count untouched")
            }
            var n = x, residual = x.map { $0 * 0.5 }
            let gain = (0..<width).map { _ in Float.random(in: 0.5...1.5, using: &rng) }
            let bias = (0..<width).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
            ek_layer_norm_at(Int32(level), &n, &residual, gain, bias, Int64(rows), Int64(width), 1e-12)
            for r in 0..<rows {
                let row = (0..<width).map { Double(x[r * width + $0]) + Double(residual[r * width + $0]) }
                let mean = row.reduce(0, +) / Double(width)
                let std = (row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width) + 1e-12).squareRoot()
                for j in 0..<width {
                    let expected = (row[j] - mean) / std * Double(gain[j]) + Double(bias[j])
                    #expect(abs(Double(n[r * width + j]) - expected) <= 2e-6 * (abs(expected) + 1), "layer norm variant \(level)")
                }
            }
        }
    }
}
