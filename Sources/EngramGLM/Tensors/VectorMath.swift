import CKernels
import Foundation

/// RMSNorm of `rows` rows of `n`: `y = x / sqrt(mean(x²) + eps) · w` (`y` may alias `x`).
func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int = 1, _ n: Int,
             eps: Float) {
    ek_rms_norm(x, w, y, Int64(rows), Int64(n), eps)
}
