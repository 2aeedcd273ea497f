/// Integer dot products of K-quant rows (256-value blocks) with an activation quantized in
/// 32-value blocks (`QuantizedActivation`, `.bytes` layout). Each 32-value slice of weights
/// meets one activation block; 32 weight bytes are read as 16 UInt16 lanes whose low and high
/// bytes hold the even and odd values.

/// `Σ even·x_even + odd·x_odd` for one activation block, as 8 float partial sums: lanes 0–3
/// cover values 0–15 of the block, lanes 4–7 values 16–31.
@inline(__always)
func evenOddProducts(_ even: SIMD16<UInt16>, _ odd: SIMD16<UInt16>, _ x: UnsafeRawPointer) -> SIMD8<Float> {
    let xe = x.loadUnaligned(as: SIMD16<UInt16>.self)
    let xo = x.loadUnaligned(fromByteOffset: 32, as: SIMD16<UInt16>.self)
    let s = even &* xe &+ odd &* xo // wrapping UInt16 arithmetic = Int16 arithmetic
    return toFloat(pairFold(unsafeBitCast(s, to: SIMD16<Int16>.self)))
}

/// Q4_K row: per sub-block j of 32, `d·sc_j·Σ q·q_x·d_x − dmin·m_j·s_x`.
func dotQ4_K(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ nb32: Int) -> Float {
    var acc = SIMD8<Float>()
    var accMin: Float = 0
    let xq = UnsafeRawPointer(x.q)
    let m4 = SIMD16<UInt16>(repeating: 0x000F)
    for blk in 0..<nb32 / 8 {
        let p = row + 144 * blk
        let d = loadF16(p, 0), dmin = loadF16(p, 2)
        let scales = p + 4
        for c in 0..<4 {
            let w = (p + 16 + 32 * c).loadUnaligned(as: SIMD16<UInt16>.self)
            let b0 = 8 * blk + 2 * c, b1 = b0 + 1
            let (sc0, mn0) = kScaleMin(scales, 2 * c)
            let (sc1, mn1) = kScaleMin(scales, 2 * c + 1)
            let lo = evenOddProducts(w & m4, (w &>> 8) & m4, xq + 64 * b0)
            let hi = evenOddProducts((w &>> 4) & m4, w &>> 12, xq + 64 * b1)
            acc += lo * SIMD8(repeating: d * sc0 * x.d[b0]) + hi * SIMD8(repeating: d * sc1 * x.d[b1])
            accMin += dmin * (mn0 * x.s[b0] + mn1 * x.s[b1])
        }
    }
    return acc.sum() - accMin
}

/// Q6_K row: values `(6-bit q − 32)·d·scale`, a signed 8-bit scale per 16 values.
func dotQ6_K(_ row: UnsafeRawPointer, _ x: QuantizedActivation, _ nb32: Int) -> Float {
    var acc = SIMD8<Float>()
    let xq = UnsafeRawPointer(x.q)
    let m4 = SIMD16<UInt16>(repeating: 0x000F), m2 = SIMD16<UInt16>(repeating: 0x0003)
    let bias = SIMD16<UInt16>(repeating: 32)
    for blk in 0..<nb32 / 8 {
        let p = row + 210 * blk
        let d = loadF16(p, 208)
        for half in 0..<2 {
            let ql = p + 64 * half, qh = p + 128 + 32 * half, sc = p + 192 + 8 * half
            let w1 = ql.loadUnaligned(as: SIMD16<UInt16>.self)
            let w2 = ql.loadUnaligned(fromByteOffset: 32, as: SIMD16<UInt16>.self)
            let h = qh.loadUnaligned(as: SIMD16<UInt16>.self)
            // (low 4 bits | 2 high bits << 4) − 32, even and odd values of each quarter.
            let q1e = ((w1 & m4) | ((h & m2) &<< 4)) &- bias
            let q1o = (((w1 &>> 8) & m4) | (((h &>> 8) & m2) &<< 4)) &- bias
            let q2e = ((w2 & m4) | (((h &>> 2) & m2) &<< 4)) &- bias
            let q2o = (((w2 &>> 8) & m4) | (((h &>> 10) & m2) &<< 4)) &- bias
            let q3e = (((w1 &>> 4) & m4) | (((h &>> 4) & m2) &<< 4)) &- bias
            let q3o = ((w1 &>> 12) | (((h &>> 12) & m2) &<< 4)) &- bias
            let q4e = (((w2 &>> 4) & m4) | (((h &>> 6) & m2) &<< 4)) &- bias
            let q4o = ((w2 &>> 12) | ((h &>> 14) &<< 4)) &- bias
            let b = 8 * blk + 4 * half
            func scales(_ i: Int, _ xb: Int) -> SIMD8<Float> {
                let f = d * x.d[xb]
                return SIMD8(lowHalf: SIMD4(repeating: f * Float(sc.load(fromByteOffset: i, as: Int8.self))),
                             highHalf: SIMD4(repeating: f * Float(sc.load(fromByteOffset: i + 1, as: Int8.self))))
            }
            acc += evenOddProducts(q1e, q1o, xq + 64 * b) * scales(0, b)
            acc += evenOddProducts(q2e, q2o, xq + 64 * (b + 1)) * scales(2, b + 1)
            acc += evenOddProducts(q3e, q3o, xq + 64 * (b + 2)) * scales(4, b + 2)
            acc += evenOddProducts(q4e, q4o, xq + 64 * (b + 3)) * scales(6, b + 3)
        }
    }
    return acc.sum()
}
