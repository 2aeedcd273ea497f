import Foundation
import Testing
import EngramBase
import EngramGLM

/// Round trips: a simple encoder written here packs known integer values and scales into each
/// block layout; the engine's dequantization must give back exactly the values they stand for.
struct DequantizeTests {
    /// The package's seeded generator, with the two draws these tests use.
    struct RNG {
        var random: SeededRandom
        init(state: UInt64) { random = SeededRandom(seed: state) }
        mutating func int(_ n: Int) -> Int { Int.random(in: 0..<n, using: &random) }
        mutating func float() -> Float { Float.random(in: 0..<1, using: &random) }
    }

    static func f16(_ x: Float) -> (bytes: [UInt8], value: Float) {
        let h = Float16(x)
        let b = h.bitPattern
        return ([UInt8(b & 0xFF), UInt8(b >> 8)], Float(h))
    }

    static func run(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dequantize(type, src.baseAddress!, $0.baseAddress!, count: count) }
        }
        return out
    }

    @Test("block sizes", arguments: GGMLType.allCases)
    func blockBytes(_ t: GGMLType) {
        let expected: [GGMLType: (Int, Int)] = [.f32: (1, 4), .f16: (1, 2), .bf16: (1, 2), .q4_0: (32, 18), .q4_1: (32, 20),
            .q5_0: (32, 22), .q5_1: (32, 24), .q8_0: (32, 34), .q4_K: (256, 144), .q5_K: (256, 176), .q6_K: (256, 210)]
        #expect(expected[t]! == (t.blockSize, t.blockBytes))
    }

    @Test("F32, F16, BF16 round trip")
    func floats() {
        var rng = RNG(state: 1)
        let xs = (0..<64).map { _ in (rng.float() - 0.5) * 100 }
        var f32: [UInt8] = [], f16: [UInt8] = [], bf16: [UInt8] = []
        var e16: [Float] = [], ebf: [Float] = []
        for x in xs {
            withUnsafeBytes(of: x.bitPattern.littleEndian) { f32 += $0 }
            let h = Self.f16(x); f16 += h.bytes; e16.append(h.value)
            let b = UInt16(x.bitPattern >> 16); bf16 += [UInt8(b & 0xFF), UInt8(b >> 8)]
            ebf.append(Float(bitPattern: UInt32(b) << 16))
        }
        #expect(Self.run(.f32, f32, count: 64) == xs)
        #expect(Self.run(.f16, f16, count: 64) == e16)
        #expect(Self.run(.bf16, bf16, count: 64) == ebf)
        for (a, b) in zip(xs, Self.run(.bf16, bf16, count: 64)) { #expect(abs(a - b) <= abs(a) / 128) }
    }

    @Test("Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 round trip", arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0])
    func legacyQuants(_ t: GGMLType) {
        var rng = RNG(state: UInt64(t.rawValue) + 7)
        var bytes: [UInt8] = [], expected: [Float] = []
        for _ in 0..<4 {
            let d = Self.f16(rng.float() * 0.1 + 0.001), m = Self.f16(-rng.float())
            switch t {
            case .q8_0:
                let q = (0..<32).map { _ in Int8(truncatingIfNeeded: rng.int(256) - 128) }
                bytes += d.bytes + q.map { UInt8(bitPattern: $0) }
                expected += q.map { Float($0) * d.value }
            default:
                let bits = (t == .q5_0 || t == .q5_1) ? 5 : 4
                let q = (0..<32).map { _ in rng.int(1 << bits) }
                bytes += d.bytes
                if t == .q4_1 || t == .q5_1 { bytes += m.bytes }
                if bits == 5 {
                    var qh: UInt32 = 0
                    for j in 0..<32 where q[j] & 16 != 0 { qh |= 1 << UInt32(j) }
                    withUnsafeBytes(of: qh.littleEndian) { bytes += $0 }
                }
                bytes += (0..<16).map { UInt8(q[$0] & 15) | UInt8(q[$0 + 16] & 15) << 4 }
                for j in 0..<32 {
                    switch t {
                    case .q4_0: expected.append(Float(q[j] - 8) * d.value)
                    case .q5_0: expected.append(Float(q[j] - 16) * d.value)
                    default: expected.append(Float(q[j]) * d.value + m.value)
                    }
                }
            }
        }
        #expect(bytes.count == 4 * t.blockBytes)
        #expect(Self.run(t, bytes, count: 128) == expected)
    }

    /// Packs 6-bit scales and mins of 8 sub-blocks into the 12 K-quant scale bytes.
    static func packScales(_ sc: [Int], _ m: [Int]) -> [UInt8] {
        var q = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            q[j] = UInt8(sc[j] & 63) | UInt8((sc[j + 4] >> 4) << 6)
            q[j + 4] = UInt8(m[j] & 63) | UInt8((m[j + 4] >> 4) << 6)
            q[j + 8] = UInt8(sc[j + 4] & 15) | UInt8(m[j + 4] & 15) << 4
        }
        return q
    }

    @Test("Q4_K and Q5_K round trip", arguments: [GGMLType.q4_K, .q5_K])
    func kQuants45(_ t: GGMLType) {
        var rng = RNG(state: UInt64(t.rawValue))
        var bytes: [UInt8] = [], expected: [Float] = []
        for _ in 0..<2 {
            let d = Self.f16(rng.float() * 0.01), dmin = Self.f16(rng.float() * 0.01)
            let sc = (0..<8).map { _ in rng.int(64) }, mn = (0..<8).map { _ in rng.int(64) }
            let five = t == .q5_K
            let q = (0..<256).map { _ in rng.int(five ? 32 : 16) } // value index = 32·subblock + l
            bytes += d.bytes + dmin.bytes + Self.packScales(sc, mn)
            if five {
                var qh = [UInt8](repeating: 0, count: 32)
                for s in 0..<8 { for l in 0..<32 where q[32 * s + l] & 16 != 0 { qh[l] |= UInt8(1 << s) } }
                bytes += qh
            }
            for c in 0..<4 { bytes += (0..<32).map { l in UInt8(q[64 * c + l] & 15) | UInt8(q[64 * c + 32 + l] & 15) << 4 } }
            for i in 0..<256 {
                let s = i / 32
                expected.append(d.value * Float(sc[s]) * Float(q[i]) - dmin.value * Float(mn[s]))
            }
        }
        let got = Self.run(t, bytes, count: 512)
        for i in 0..<512 { #expect(abs(got[i] - expected[i]) <= 1e-6 * max(1, abs(expected[i])), "value \(i)") }
    }

    @Test("Q6_K round trip")
    func q6K() {
        var rng = RNG(state: 99)
        var bytes: [UInt8] = [], expected: [Float] = []
        for _ in 0..<2 {
            let d = Self.f16(rng.float() * 0.01)
            let sc = (0..<16).map { _ in Int8(truncatingIfNeeded: rng.int(256) - 128) }
            let q = (0..<256).map { _ in rng.int(64) } // stored value; real value q − 32
            var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
            for half in 0..<2 {
                for l in 0..<32 {
                    let b = 128 * half
                    let v = [q[b + l], q[b + l + 32], q[b + l + 64], q[b + l + 96]]
                    ql[64 * half + l] = UInt8(v[0] & 15) | UInt8(v[2] & 15) << 4
                    ql[64 * half + l + 32] = UInt8(v[1] & 15) | UInt8(v[3] & 15) << 4
                    qh[32 * half + l] = UInt8(v[0] >> 4) | UInt8(v[1] >> 4) << 2 | UInt8(v[2] >> 4) << 4 | UInt8(v[3] >> 4) << 6
                }
            }
            bytes += ql + qh + sc.map { UInt8(bitPattern: $0) } + d.bytes
            for i in 0..<256 { expected.append(d.value * Float(sc[i / 16]) * Float(q[i] - 32)) }
        }
        let got = Self.run(.q6_K, bytes, count: 512)
        for i in 0..<512 { #expect(abs(got[i] - expected[i]) <= 1e-6 * max(1, abs(expected[i])), "value \(i)") }
    }
}
