import CKernels

/// Keys and values of every layer for the positions evaluated so far, stored as F16 (IEEE
/// binary16 bit patterns, as llama.cpp does: half the memory; attention widens them to F32).
/// Layout per layer: `[position][kv_head][head_dim]`. Grows in steps of `growthStep` positions
/// as needed (callers reserve a request's length up front), so memory follows the length used.
final class KVCache {
    let layers: Int
    let rowSize: Int
    private(set) var capacity = 0
    private(set) var keys: [UnsafeMutablePointer<UInt16>] = []
    private(set) var values: [UnsafeMutablePointer<UInt16>] = []

    static let growthStep = 256

    init(layers: Int, rowSize: Int) {
        self.layers = layers
        self.rowSize = rowSize
    }

    deinit {
        for p in keys { p.deallocate() }
        for p in values { p.deallocate() }
    }

    /// Makes room for `positions` positions, keeping the first `keep` positions' contents.
    func reserve(_ positions: Int, keep: Int) {
        guard positions > capacity else { return }
        let newCapacity = (positions + KVCache.growthStep - 1) / KVCache.growthStep * KVCache.growthStep
        func grow(_ old: [UnsafeMutablePointer<UInt16>]) -> [UnsafeMutablePointer<UInt16>] {
            (0..<layers).map { l in
                let p = UnsafeMutablePointer<UInt16>.allocate(capacity: newCapacity * rowSize)
                if l < old.count {
                    p.update(from: old[l], count: keep * rowSize)
                    old[l].deallocate()
                }
                return p
            }
        }
        keys = grow(keys)
        values = grow(values)
        capacity = newCapacity
    }

    /// Stores `count` rows of `rowSize` floats at position `position`.
    func store(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt16>, position: Int, count: Int) {
        ek_f32_to_f16(src, dst + position * rowSize, Int64(count * rowSize))
    }
}

/// Copies `rows` rows of `cols` halves (row stride `stride`) into contiguous floats.
@inline(__always)
func widen(_ src: UnsafePointer<UInt16>, stride: Int, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
    if stride == cols {
        ek_f16_to_f32(src, dst, Int64(rows * cols))
        return
    }
    for r in 0..<rows { ek_f16_to_f32(src + r * stride, dst + r * cols, Int64(cols)) }
}
