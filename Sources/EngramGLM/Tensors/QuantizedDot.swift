/// The activation vector quantized to 8 bits in blocks of 32 (as ggml's Q8_0 / Q8_1):
/// `x[32b + j] ≈ d[b] · q[32b + j]`, `s[b] = d[b] · Σ_j q[32b + j]`.
///
/// Non-finite input never traps: a block holding NaN or ±∞ gets `d[b] = s[b] = NaN` (and
/// zero quants), so every dot product with it is NaN, as a float dot product would be
/// non-finite. A block whose scale `max|x| / 127` is zero or subnormal (every |x| below
/// ~1.5e-36, where `1 / scale` would overflow) quantizes to zero.
///
/// The values are stored widened to Int16 and permuted within each block to match how the
/// kernels split weight bytes into even and odd lanes (so no lane conversions are needed):
/// `.bytes` (Q8 weights), per block: x0 x2 … x30 | x1 x3 … x31.
/// `.nibbles` (Q4 weights), per pair of blocks (b, b+1), groups of eight interleaved by block:
/// g0(b) g0(b+1) | g1(b) g1(b+1) | g2(b) g2(b+1) | g3(b) g3(b+1), where g0 = x0 x2 … x14,
/// g1 = x1 x3 … x15, g2 = x16 x18 … x30, g3 = x17 … x31; an odd last block is g0 g1 g2 g3.
struct QuantizedActivation {
    enum Layout { case nibbles, bytes }
    let count: Int
    let q: UnsafeMutablePointer<Int16>
    let d: UnsafeMutablePointer<Float>
    let s: UnsafeMutablePointer<Float>

    init(_ x: UnsafePointer<Float>, count: Int, layout: Layout) {
        self.count = count
        let nb = count / 32
        q = .allocate(capacity: count)
        d = .allocate(capacity: nb)
        s = .allocate(capacity: nb)
        for b in 0..<nb {
            let xb = x + 32 * b
            var amax: Float = 0
            var finite = true
            for j in 0..<32 {
                finite = finite && xb[j].isFinite
                amax = max(amax, abs(xb[j]))
            }
            let scale = amax / 127
            // Only a finite block with a normal scale is scaled: |x · inv| ≤ 127.
            let scaled = finite && scale.isNormal
            let inv: Float = scaled ? 1 / scale : 0
            var sum = 0
            for j in 0..<32 {
                let v: Int16 = scaled ? Int16((xb[j] * inv).rounded(.toNearestOrAwayFromZero)) : 0
                let slot: Int
                switch layout {
                case .nibbles:
                    let group = (j / 16) * 2 + j % 2, within = (j % 16) / 2
                    if b == nb - 1 && nb % 2 == 1 {
                        slot = group * 8 + within
                    } else {
                        slot = (b % 2 == 0 ? 0 : 8 - 32) + group * 16 + within
                    }
                case .bytes: slot = (j % 2) * 16 + j / 2
                }
                q[32 * b + slot] = v
                sum += Int(v)
            }
            d[b] = finite ? (scaled ? scale : 0) : .nan
            s[b] = finite ? d[b] * Float(sum) : .nan
        }
    }

    func deallocate() {
        q.deallocate()
        d.deallocate()
        s.deallocate()
    }
}

/// Matrix–vector kernels for quantized weights: the activation is quantized once per product
/// and each block's dot product is computed on integers, with one float multiply-add per
/// block. Rows are split across threads.
struct QuantizedDot {
    typealias RowDot = (UnsafeRawPointer, QuantizedActivation, Int) -> Float
    let rowDot: RowDot
    let layout: QuantizedActivation.Layout

    static func kernel(for type: GGMLType) -> QuantizedDot? {
        switch type {
        case .q4_1: return QuantizedDot(rowDot: dotQ4_1, layout: .nibbles)
        case .q4_0: return QuantizedDot(rowDot: dotQ4_0, layout: .nibbles)
        case .q8_0: return QuantizedDot(rowDot: dotQ8_0, layout: .bytes)
        case .q4_K: return QuantizedDot(rowDot: dotQ4_K, layout: .bytes)
        case .q6_K: return QuantizedDot(rowDot: dotQ6_K, layout: .bytes)
        default: return nil
        }
    }

    /// Several products with the same input (`ys[i] = ws[i]·x`, all of one type and width) in
    /// one parallel loop, quantizing `x` once: fewer thread hand-offs per token.
    static func matvecGroup(_ ws: [WeightMatrix], _ x: UnsafePointer<Float>, _ ys: [UnsafeMutablePointer<Float>], workers: WorkerPool) {
        guard let first = ws.first, let k = kernel(for: first.type),
              ws.allSatisfy({ $0.type == first.type && $0.cols == first.cols }) else {
            for (w, y) in zip(ws, ys) { w.matvec(x, y, workers: workers) }
            return
        }
        let xq = QuantizedActivation(x, count: first.cols, layout: k.layout)
        defer { xq.deallocate() }
        let outs = ys.map(SharedPointer.init)
        var starts = [0]
        for w in ws { starts.append(starts.last! + w.rows) }
        let nb = first.cols / 32
        parallelChunks(starts.last!, workers: workers, minimumChunk: 64) { range in
            var m = 0
            for r in range {
                while r >= starts[m + 1] { m += 1 }
                outs[m].p[r - starts[m]] = k.rowDot(ws[m].row(r - starts[m]), xq, nb)
            }
        }
    }

    func matvec(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, workers: WorkerPool) {
        let xq = QuantizedActivation(x, count: w.cols, layout: layout)
        defer { xq.deallocate() }
        let ys = SharedPointer(y)
        let nb = w.cols / 32
        parallelChunks(w.rows, workers: workers, minimumChunk: 64) { range in
            for r in range { ys.p[r] = rowDot(w.row(r), xq, nb) }
        }
    }
}

/// Adds the sign-extended low and high Int16 halves of each Int32 lane (pairwise sums).
@inline(__always)
func pairFold(_ v: SIMD16<Int16>) -> SIMD8<Int32> {
    let w = unsafeBitCast(v, to: SIMD8<Int32>.self)
    return (w &<< 16) &>> 16 &+ (w &>> 16)
}

@inline(__always)
func pairFold(_ v: SIMD8<Int16>) -> SIMD4<Int32> {
    let w = unsafeBitCast(v, to: SIMD4<Int32>.self)
    return (w &<< 16) &>> 16 &+ (w &>> 16)
}

/// Int32 → Float for |v| < 2²²: add the bits of 1.5·2²³ and subtract it as a float.
@inline(__always)
func toFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    unsafeBitCast(v &+ SIMD8(repeating: 0x4B40_0000), to: SIMD8<Float>.self) - SIMD8(repeating: 12_582_912)
}

@inline(__always)
func toFloat(_ v: SIMD4<Int32>) -> SIMD4<Float> {
    unsafeBitCast(v &+ SIMD4(repeating: 0x4B40_0000), to: SIMD4<Float>.self) - SIMD4(repeating: 12_582_912)
}

/// Σ q_w·q_x of Q4 blocks as Int16 lanes. The weight bytes as UInt16 lanes hold, per lane i
/// of a block, values 2i (bits 0–3), 16+2i (bits 4–7), 2i+1 (bits 8–11), 17+2i (bits 12–15);
/// `x` points at the matching activation groups (see `QuantizedActivation.Layout`).
@inline(__always)
func nibbleProducts<V: SIMD>(_ w: V, _ x: UnsafeRawPointer, offset: Int16) -> V
where V.Scalar == UInt16 {
    let m = V(repeating: 0x000F)
    let stride = V.scalarCount * 2
    let v0 = w & m, v1 = (w &>> 8) & m, v2 = (w &>> 4) & m, v3 = w &>> 12
    let o = V(repeating: UInt16(bitPattern: offset))
    // Wrapping arithmetic on UInt16 lanes equals Int16 arithmetic bit for bit.
    let s = (v0 &- o) &* x.loadUnaligned(as: V.self)
        &+ (v1 &- o) &* x.loadUnaligned(fromByteOffset: stride, as: V.self)
        &+ (v2 &- o) &* x.loadUnaligned(fromByteOffset: 2 * stride, as: V.self)
        &+ (v3 &- o) &* x.loadUnaligned(fromByteOffset: 3 * stride, as: V.self)
    return s
}

/// Shared loop of the Q4_0 / Q4_1 kernels: two blocks per step in 256-bit lanes.
@inline(__always)
func dotQ4(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ nb: Int,
           blockBytes: Int, quantsAt: Int, offset: Int16, hasMin: Bool) -> Float {
    var acc = SIMD8<Float>()
    var accMin: Float = 0
    let xq = UnsafeRawPointer(x.q)
    var b = 0
    while b + 2 <= nb {
        let p0 = row + blockBytes * b, p1 = p0 + blockBytes
        let w = SIMD16<UInt16>(lowHalf: p0.loadUnaligned(fromByteOffset: quantsAt, as: SIMD8<UInt16>.self),
                               highHalf: p1.loadUnaligned(fromByteOffset: quantsAt, as: SIMD8<UInt16>.self))
        let s = nibbleProducts(w, xq + 64 * b, offset: offset)
        let f = toFloat(pairFold(unsafeBitCast(s, to: SIMD16<Int16>.self)))
        let d0 = loadF16(p0, 0) * x.d[b], d1 = loadF16(p1, 0) * x.d[b + 1]
        acc += f * SIMD8(lowHalf: SIMD4(repeating: d0), highHalf: SIMD4(repeating: d1))
        if hasMin { accMin += loadF16(p0, 2) * x.s[b] + loadF16(p1, 2) * x.s[b + 1] }
        b += 2
    }
    var total = acc.sum()
    if b < nb {
        let p = row + blockBytes * b
        let w = p.loadUnaligned(fromByteOffset: quantsAt, as: SIMD8<UInt16>.self)
        let s = nibbleProducts(w, xq + 64 * b, offset: offset)
        total += toFloat(pairFold(unsafeBitCast(s, to: SIMD8<Int16>.self))).sum() * loadF16(p, 0) * x.d[b]
        if hasMin { accMin += loadF16(p, 2) * x.s[b] }
    }
    return total + accMin
}

/// Q4_1 row · Q8_1 activation: Σ_b d_w·d_x·Σ q_w·q_x + m_w·s_x.
func dotQ4_1(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ nb: Int) -> Float {
    dotQ4(row, x, nb, blockBytes: 20, quantsAt: 4, offset: 0, hasMin: true)
}

/// Q4_0 row · Q8_0 activation: Σ_b d_w·d_x·Σ (q_w − 8)·q_x.
func dotQ4_0(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ nb: Int) -> Float {
    dotQ4(row, x, nb, blockBytes: 18, quantsAt: 2, offset: 8, hasMin: false)
}

/// Q8_0 row · Q8_0 activation: Σ_b d_w·d_x·Σ q_w·q_x. The 32 weight bytes as 16 Int16 lanes
/// hold values 2i (low byte) and 2i+1 (high byte); |even + odd product| < 2¹⁵.
func dotQ8_0(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ nb: Int) -> Float {
    var acc = SIMD8<Float>()
    let xq = UnsafeRawPointer(x.q)
    for b in 0..<nb {
        let p = row + 34 * b
        let w = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int16>.self)
        let even = (w &<< 8) &>> 8, odd = w &>> 8
        let s = even &* xq.loadUnaligned(fromByteOffset: 64 * b, as: SIMD16<Int16>.self)
            &+ odd &* xq.loadUnaligned(fromByteOffset: 64 * b + 32, as: SIMD16<Int16>.self)
        acc += toFloat(pairFold(s)) * SIMD8(repeating: loadF16(p, 0) * x.d[b])
    }
    return acc.sum()
}
