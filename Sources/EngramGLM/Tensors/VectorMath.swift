import Foundation

/// Dot product of two float vectors of length `n`.
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var i = 0
    while i + 16 <= n {
        acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        acc1 += ra.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
            * rb.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
        i += 16
    }
    var s = (acc0 + acc1).sum()
    while i < n {
        s += a[i] * b[i]
        i += 1
    }
    return s
}

/// `y += a · x` over `n` values.
@inline(__always)
func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
    let av = SIMD8<Float>(repeating: a)
    var i = 0
    while i + 8 <= n {
        let v = ry.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            + av * rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        ry.storeBytes(of: v, toByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n {
        y[i] += a * x[i]
        i += 1
    }
}

/// RMSNorm of one row: `y = x / sqrt(mean(x²) + eps) · w` (`y` may alias `x`).
func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, eps: Float) {
    var ss: Double = 0
    for i in 0..<n { ss += Double(x[i]) * Double(x[i]) }
    let scale = Float(1.0 / (ss / Double(n) + Double(eps)).squareRoot())
    for i in 0..<n { y[i] = x[i] * scale * w[i] }
}

@inline(__always)
func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

/// In-place softmax over `n` values.
func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    var m = -Float.infinity
    for i in 0..<n where x[i] > m { m = x[i] }
    var s: Float = 0
    for i in 0..<n {
        let e = expf(x[i] - m)
        x[i] = e
        s += e
    }
    let inv = 1 / s
    for i in 0..<n { x[i] *= inv }
}
