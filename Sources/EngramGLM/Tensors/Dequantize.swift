import CKernels

/// Converts `count` values of type `type` starting at `src` into floats at `dst` (CKernels,
/// the instruction-set variant chosen at start-up). `count` must be a multiple of the type's
/// block size.
public func dequantize(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    // Every GGMLType has a kernel; a new case without one must not go unnoticed.
    precondition(ek_dequantize(Int32(type.rawValue), src, dst, Int64(count)) == 1, "no dequantization kernel for \(type)")
}
