/// Keys and values of every layer for the positions evaluated so far, in F32.
/// Layout per layer: `[position][kv_head][head_dim]`. Grows in steps as positions are added,
/// so memory follows the length actually used.
final class KVCache {
    let layers: Int
    let rowSize: Int
    private(set) var capacity = 0
    private(set) var keys: [UnsafeMutablePointer<Float>] = []
    private(set) var values: [UnsafeMutablePointer<Float>] = []

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
        func grow(_ old: [UnsafeMutablePointer<Float>]) -> [UnsafeMutablePointer<Float>] {
            (0..<layers).map { l in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * rowSize)
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
}
