/// Keys and values of every layer for the positions evaluated so far, stored as F16 (as
/// llama.cpp does: half the memory; attention widens them to F32).
/// Layout per layer: `[position][kv_head][head_dim]`. Grows in steps of `growthStep` positions
/// as needed (callers reserve a request's length up front), so memory follows the length used.
final class KVCache {
    let layers: Int
    let rowSize: Int
    private(set) var capacity = 0
    private(set) var keys: [UnsafeMutablePointer<Float16>] = []
    private(set) var values: [UnsafeMutablePointer<Float16>] = []

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
        func grow(_ old: [UnsafeMutablePointer<Float16>]) -> [UnsafeMutablePointer<Float16>] {
            (0..<layers).map { l in
                let p = UnsafeMutablePointer<Float16>.allocate(capacity: newCapacity * rowSize)
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
    func store(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float16>, position: Int, count: Int) {
        let p = dst + position * rowSize
        for i in 0..<count * rowSize { p[i] = Float16(src[i]) }
    }
}

/// Copies `rows` rows of `cols` halves (row stride `stride`) into contiguous floats.
@inline(__always)
func widen(_ src: UnsafePointer<Float16>, stride: Int, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let s = src + r * stride, d = dst + r * cols
        for i in 0..<cols { d[i] = Float(s[i]) }
    }
}
