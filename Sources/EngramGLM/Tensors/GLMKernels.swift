import CKernels

/// The CPU kernels the engine runs on.
public enum GLMKernels {
    /// The instruction-set variant of the matrix–vector and vector kernels (`portable`,
    /// `avx2`, `avx512`, `avx512vnni`): the best this CPU has, or the one `ENGRAM_SIMD` names
    /// when that is lower.
    public static var simdVariant: String { String(cString: ek_simd_name(ek_simd_level())) }
}
