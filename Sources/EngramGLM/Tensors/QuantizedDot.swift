/// Fast matrix–vector kernels for quantized weights (filled in per type).
struct QuantizedDot {
    static func kernel(for type: GGMLType) -> QuantizedDot? { nil }
    func matvec(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, threads: Int) {}
}
