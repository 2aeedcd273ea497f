import CKernels

/// The activation quantized to 8 bits in blocks of 32 (as ggml's Q8_0 / Q8_1), for the integer
/// kernels of the quantized types: `x[32b + j] ≈ d[b] · q[32b + j]`, `s[b] = d[b] · Σ_j q[32b + j]`
/// (see `ek_quantize_q8` for the rounding and for non-finite input, which gives NaN products
/// and never traps). With two terms, the activation is quantized to 16 bits and split into a
/// high and a low byte (`ek_quantize_q8_wide`): the tile kernels take both, for products
/// nearly as exact as in floats; the row kernels read the high byte as a one-term activation.
/// Where the tile kernels in use read it in 16 bits (`ek_tiles_widened`), `wide` holds it so
/// (`ek_widen_q8`), made once here rather than by every thread for its rows.
struct QuantizedActivation {
    let count: Int
    let terms: Int
    let q: UnsafeMutablePointer<Int8>
    let d: UnsafeMutablePointer<Float>
    let s: UnsafeMutablePointer<Float>
    let wide: UnsafeMutablePointer<Int16>?

    /// Fewest blocks of 32 a thread quantizes at a time (one token's activation is 18–48 of
    /// them: a batch's is split, a token's is not).
    static let minimumBlocks = 256

    /// Quantizes `x` (`count` values), in parts on `workers` when there are enough of them;
    /// `widened`: also into `wide`, for the matrices `x` meets (see `WeightTiles.readsWidened`).
    init(_ x: UnsafePointer<Float>, count: Int, terms: Int, widened: Bool, workers: WorkerPool) {
        self.count = count
        self.terms = terms
        let q = UnsafeMutablePointer<Int8>.allocate(capacity: terms * count)
        let d = UnsafeMutablePointer<Float>.allocate(capacity: terms * count / 32)
        let s = UnsafeMutablePointer<Float>.allocate(capacity: terms * count / 32)
        let wide = widened ? UnsafeMutablePointer<Int16>.allocate(capacity: count) : nil
        (self.q, self.d, self.s, self.wide) = (q, d, s, wide)
        let wides = wide.map(SharedPointer.init)
        parallelChunks(count / 32, workers: workers, minimumChunk: Self.minimumBlocks) { blocks in
            let at = 32 * blocks.lowerBound, n = Int64(32 * blocks.count)
            if terms == 2 {
                ek_quantize_q8_wide(x + at, n, Int64(count), q + at, d + blocks.lowerBound, s + blocks.lowerBound)
            } else {
                ek_quantize_q8(x + at, n, q + at, d + blocks.lowerBound, s + blocks.lowerBound)
            }
            if let wides { ek_widen_q8(Int32(terms), q + at, Int64(count), n, wides.p + at) }
        }
    }

    /// Whether the tile kernels read the activation of any of `ws` widened.
    static func widened(for ws: [WeightMatrix]) -> Bool { ws.contains { $0.tiles?.readsWidened == true } }

    func deallocate() {
        q.deallocate()
        d.deallocate()
        s.deallocate()
        wide?.deallocate()
    }
}

/// Matrix–vector products on the CPU kernels (`CKernels`, the instruction-set variant chosen
/// at start-up): quantized weights meet the activation quantized once per product, with
/// integer dot products per block; float weights (F32, F16, BF16) meet it as floats. Rows are
/// split across the context's threads.
enum QuantizedDot {
    /// Fewest rows a thread takes at a time (a row is a few hundred nanoseconds of work).
    static let minimumRows = 64

    /// Whether the kernels take this type's activation quantized.
    static func takesQuantized(_ type: GGMLType) -> Bool { ek_type_takes_q8(Int32(type.rawValue)) == 1 }

    /// `ys[i] = ws[i] · x` for several matrices with the same input (all of one width): one
    /// parallel loop over all their rows, in units of 16 rows (a tile), and one quantization
    /// of `x`, so fewer thread hand-offs per token.
    static func matvecGroup(_ ws: [WeightMatrix], _ x: UnsafePointer<Float>, _ ys: [UnsafeMutablePointer<Float>],
                            terms: Int, workers: WorkerPool) {
        guard let first = ws.first else { return }
        precondition(ws.allSatisfy { $0.cols == first.cols })
        let xq = ws.contains { takesQuantized($0.type) }
            ? QuantizedActivation(x, count: first.cols, terms: ws.contains { $0.tiles != nil } ? terms : 1,
                                  widened: QuantizedActivation.widened(for: ws), workers: workers) : nil
        defer { xq?.deallocate() }
        let outs = ys.map(SharedPointer.init)
        let unit = WeightTiles.rowsPerTile
        var starts = [0] // in units
        for w in ws { starts.append(starts.last! + (w.rows + unit - 1) / unit) }
        parallelChunks(starts.last!, workers: workers, minimumChunk: minimumRows / unit) { range in
            var m = 0
            var u = range.lowerBound
            while u < range.upperBound {
                while u >= starts[m + 1] { m += 1 }
                let end = min(range.upperBound, starts[m + 1])
                let w = ws[m], groups = (u - starts[m])..<(end - starts[m])
                if let tiles = w.tiles, let xq {
                    tiles.matvec(groups, xq, outs[m].p)
                } else {
                    rows(w, (groups.lowerBound * unit)..<min(w.rows, groups.upperBound * unit), x, xq, outs[m].p)
                }
                u = end
            }
        }
    }

    /// `ys[i][t] = ws[i] · x[t]` for a batch of `count` inputs (`x`: count × cols; `ys[i]`:
    /// count × rows of `ws[i]`), the activation in `terms` terms for the tile kernels. When
    /// every matrix has tiles, the batch is quantized once and one parallel
    /// loop runs over all their groups of 16 rows; otherwise each matrix runs its own `matmul`.
    static func matmulGroup(_ ws: [WeightMatrix], _ x: UnsafePointer<Float>, _ ys: [UnsafeMutablePointer<Float>],
                            count: Int, terms: Int, workers: WorkerPool) {
        guard count > 1 else { return matvecGroup(ws, x, ys, terms: terms, workers: workers) }
        guard let first = ws.first, ws.allSatisfy({ $0.tiles != nil && $0.cols == first.cols }) else {
            for (w, y) in zip(ws, ys) { w.matmul(x, y, count: count, terms: terms, workers: workers) }
            return
        }
        let xq = QuantizedActivation(x, count: count * first.cols, terms: terms, widened: QuantizedActivation.widened(for: ws),
                                     workers: workers)
        defer { xq.deallocate() }
        let outs = ys.map(SharedPointer.init)
        var starts = [0] // in groups
        for w in ws { starts.append(starts.last! + w.tiles!.groups) }
        parallelBatchGroups(starts.last!, tokens: count, workers: workers) { range in
            var m = 0
            var g = range.lowerBound
            while g < range.upperBound {
                while g >= starts[m + 1] { m += 1 }
                let end = min(range.upperBound, starts[m + 1])
                ws[m].tiles!.matmul((g - starts[m])..<(end - starts[m]), xq, tokens: count, outs[m].p, ldy: ws[m].rows)
                g = end
            }
        }
    }

    /// `y = w · x`, rows split across threads.
    static func matvec(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, terms: Int,
                       workers: WorkerPool) {
        matvecGroup([w], x, [y], terms: terms, workers: workers)
    }

    /// `y[r] = w.row(r) · x` for `r` in `range`.
    private static func rows(_ w: WeightMatrix, _ range: Range<Int>, _ x: UnsafePointer<Float>,
                             _ xq: QuantizedActivation?, _ y: UnsafeMutablePointer<Float>) {
        let type = Int32(w.type.rawValue), n = Int64(range.count), cols = Int64(w.cols)
        let done: Int32
        if takesQuantized(w.type), let xq {
            done = ek_matvec_q8(type, w.row(range.lowerBound), w.rowBytes, n, cols, xq.q, xq.d, xq.s, y + range.lowerBound)
        } else {
            done = ek_matvec_f32(type, w.row(range.lowerBound), w.rowBytes, n, cols, x, y + range.lowerBound)
        }
        // Every GGMLType has a kernel; a new case without one must not go unnoticed.
        precondition(done == 1, "no matrix-vector kernel for \(w.type)")
    }
}
