import CBLAS
import CKernels

// The encoder's element-wise kernels run on CKernels (the instruction-set variant chosen at
// start-up); matrix products on OpenBLAS. All work on raw buffers; lengths are in floats.

/// The unit in which work is split across threads (a whole number of 8-float vectors).
let vecWidth = 8

/// In place: x ← GELU(x) = x/2 · (1 + erf(x/√2)) over `count` floats.
@inline(__always)
func geluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { ek_gelu(x, Int64(count)) }

/// In place, row by row: x ← LayerNorm(x + residual) · gain + bias, two-pass mean and variance.
/// `residual` may be nil.
@inline(__always)
func layerNorm(_ x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, gain: UnsafePointer<Float>,
               bias: UnsafePointer<Float>, rows: Int, width: Int, epsilon: Float) {
    ek_layer_norm(x, residual, gain, bias, Int64(rows), Int64(width), epsilon)
}

/// In place, for each of `rows` rows of length `count` (stride `stride`): softmax.
@inline(__always)
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, count: Int, stride: Int) {
    ek_softmax_rows(x, Int64(rows), Int64(count), Int64(stride))
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
