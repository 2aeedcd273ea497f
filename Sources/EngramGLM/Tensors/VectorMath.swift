import CKernels
import Foundation

/// Dot product of two float vectors of length `n`.
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float { ek_dot(a, b, Int64(n)) }

/// `y += a · x` over `n` values.
@inline(__always)
func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { ek_axpy(a, x, y, Int64(n)) }

/// RMSNorm of one row: `y = x / sqrt(mean(x²) + eps) · w` (`y` may alias `x`).
func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, eps: Float) {
    var ss: Double = 0
    for i in 0..<n { ss += Double(x[i]) * Double(x[i]) }
    let scale = Float(1.0 / (ss / Double(n) + Double(eps)).squareRoot())
    for i in 0..<n { y[i] = x[i] * scale * w[i] }
}
