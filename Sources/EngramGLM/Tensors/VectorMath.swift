import Foundation

/// RMSNorm of one row: `y = x / sqrt(mean(x²) + eps) · w` (`y` may alias `x`).
func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, eps: Float) {
    var ss: Double = 0
    for i in 0..<n { ss += Double(x[i]) * Double(x[i]) }
    let scale = Float(1.0 / (ss / Double(n) + Double(eps)).squareRoot())
    for i in 0..<n { y[i] = x[i] * scale * w[i] }
}
