import CBLAS

// Vectorised element-wise kernels for the encoder. All work on raw buffers; lengths are in
// floats. The vector width is 8: Swift compiles for baseline x86-64 (SSE), where an 8-lane
// vector is two registers; 16 lanes ran out of registers and spilled (GELU measured ~8× slower).

typealias Vec = SIMD8<Float>
let vecWidth = 8

/// e^x per lane: Cody–Waite range reduction to r = x − n·ln2, a degree-6 polynomial for
/// e^r, then scaling by 2^n through the exponent bits. Relative error ≈ 2e-7 on [−87, 88];
/// inputs are clamped to that range (so e^−∞ gives ≈1e-38, not 0).
@inline(__always)
func vexp(_ x: Vec) -> Vec {
    let low = Vec(repeating: -87.0), high = Vec(repeating: 88.0)
    let xc = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
    // Adding 1.5·2^23 rounds to the nearest integer and leaves it in the low mantissa bits.
    let magic = Vec(repeating: 12_582_912.0)
    let t = xc * 1.442_695_04 + magic
    let n = t - magic
    let r = xc - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = Vec(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    p = p * (r * r) + r + 1.0
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: Vec.self)
    return p * scale
}

/// erf(x) per lane, Abramowitz & Stegun 7.1.28: erf(x) = 1 − (1 + a₁x + … + a₆x⁶)⁻¹⁶ for
/// x ≥ 0, odd symmetry; absolute error ≤ 3e-7. No exp: a polynomial, a reciprocal and four
/// squarings. For large |x| the power overflows to +∞ and the result is exactly ±1.
@inline(__always)
func verf(_ x: Vec) -> Vec {
    let a = x.replacing(with: -x, where: x .< 0)
    var p = Vec(repeating: 0.000_043_063_8)
    p = p * a + 0.000_276_567_2
    p = p * a + 0.000_152_014_3
    p = p * a + 0.009_270_527_2
    p = p * a + 0.042_282_012_3
    p = p * a + 0.070_523_078_4
    p = p * a + 1.0
    p = p * p; p = p * p; p = p * p; p = p * p
    let e = Vec(repeating: 1) - 1 / p
    return e.replacing(with: -e, where: x .< 0)
}

/// In place: x ← GELU(x) = x/2 · (1 + erf(x/√2)) over `count` floats (a multiple of 8).
func geluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count % vecWidth == 0)
    let raw = UnsafeMutableRawPointer(x)
    var j = 0
    while j < count {
        let v = raw.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self)
        let g = 0.5 * v * (1.0 + verf(v * 0.707_106_781_186_547_5))
        raw.storeBytes(of: g, toByteOffset: 4 * j, as: Vec.self)
        j += vecWidth
    }
}

/// In place, row by row: x ← LayerNorm(x + residual) · gain + bias, two-pass mean and variance.
/// `residual` may be nil.
func layerNorm(_ x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, gain: UnsafePointer<Float>,
               bias: UnsafePointer<Float>, rows: Int, width: Int, epsilon: Float) {
    precondition(width % vecWidth == 0)
    let g = UnsafeRawPointer(gain), b = UnsafeRawPointer(bias)
    let inverseWidth = 1 / Float(width)
    for r in 0..<rows {
        let row = UnsafeMutableRawPointer(x + r * width)
        var sum = Vec()
        var j = 0
        if let residual {
            let res = UnsafeRawPointer(residual + r * width)
            while j < width {
                let v = row.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self) + res.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self)
                row.storeBytes(of: v, toByteOffset: 4 * j, as: Vec.self)
                sum += v
                j += vecWidth
            }
        } else {
            while j < width {
                sum += row.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self)
                j += vecWidth
            }
        }
        let mean = sum.sum() * inverseWidth
        var squares = Vec()
        j = 0
        while j < width {
            let d = row.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self) - mean
            squares += d * d
            j += vecWidth
        }
        let inverseStd = 1 / (squares.sum() * inverseWidth + epsilon).squareRoot()
        j = 0
        while j < width {
            let v = (row.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self) - mean) * inverseStd
            let y = v * g.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self) + b.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self)
            row.storeBytes(of: y, toByteOffset: 4 * j, as: Vec.self)
            j += vecWidth
        }
    }
}

/// In place, for each of `rows` rows of length `count` (stride `stride`): softmax.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, count: Int, stride: Int) {
    let full = count - count % vecWidth
    for r in 0..<rows {
        let row = x + r * stride
        let raw = UnsafeMutableRawPointer(row)
        var m = -Float.infinity
        var j = 0
        var vmax = Vec(repeating: -.infinity)
        while j < full {
            let v = raw.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self)
            vmax = vmax.replacing(with: v, where: v .> vmax)
            j += vecWidth
        }
        m = vmax.max()
        while j < count { m = max(m, row[j]); j += 1 }
        var vsum = Vec()
        j = 0
        while j < full {
            let e = vexp(raw.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self) - m)
            raw.storeBytes(of: e, toByteOffset: 4 * j, as: Vec.self)
            vsum += e
            j += vecWidth
        }
        var total = vsum.sum()
        if j < count {
            var tail = Vec(repeating: 0)
            for k in j..<count { tail[k - j] = row[k] - m }
            let e = vexp(tail)
            for k in j..<count { row[k] = e[k - j]; total += e[k - j] }
        }
        let inverse = Vec(repeating: 1 / total)
        j = 0
        while j < full {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 4 * j, as: Vec.self) * inverse, toByteOffset: 4 * j, as: Vec.self)
            j += vecWidth
        }
        let s = 1 / total
        while j < count { row[j] *= s; j += 1 }
    }
}

/// y[rows, out] = x[rows, in] · Wᵀ + bias, with W stored `[out, in]` row-major (PyTorch layout).
/// `outputStride` is the distance between rows of y (default `outputs`), so a block of columns
/// of a wider matrix can be written: pass `weight` and `bias` advanced to the block's first
/// output and `y` advanced to its first column.
func linear(_ x: UnsafePointer<Float>, rows: Int, inputs: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
            outputs: Int, into y: UnsafeMutablePointer<Float>, outputStride: Int? = nil) {
    let ldy = outputStride ?? outputs
    for r in 0..<rows { (y + r * ldy).update(from: bias, count: outputs) }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inputs),
                1, x, Int32(inputs), weight, Int32(inputs), 1, y, Int32(ldy))
}
