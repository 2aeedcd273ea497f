import CBLAS
import EngramBase

/// A weight matrix of `rows` rows of `cols` values, kept in its file type inside the mapping,
/// and for Q4_0, Q4_1 and Q8_0 also as row-interleaved tiles when the kernels in use have fast
/// tile kernels (`WeightTiles`). `y[r] = dot(row_r, x)`.
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    let data: UnsafeRawPointer
    let rowBytes: Int
    let tiles: WeightTiles?

    /// `release`: called for the rows' bytes once they are packed into tiles (if they are).
    init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer, release: (UnsafeRawPointer, Int) -> Void = { _, _ in }) {
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
        self.rowBytes = type.rowBytes(cols)
        tiles = WeightTiles(type: type, rows: rows, cols: cols, data: data, release: release)
    }

    func row(_ r: Int) -> UnsafeRawPointer { data + r * rowBytes }

    /// Writes row `r` as floats into `dst` (`cols` values).
    func dequantizeRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        dequantize(type, row(r), dst, count: cols)
    }

    /// Matrix–vector product `y = W·x` (`x`: cols, `y`: rows), rows split across threads;
    /// `terms`: the activation's terms for the tile kernels (`WeightTiles`).
    func matvec(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, terms: Int, workers: WorkerPool) {
        QuantizedDot.matvec(self, x, y, terms: terms, workers: workers)
    }

    /// Matrix product for a batch: `Y[t] = W·X[t]` for `t < count` (`X`: count × cols,
    /// `Y`: count × rows, both row-major).
    ///
    /// One token uses `matvec`. Larger batches use the tiles' integer kernels when the matrix
    /// has tiles (the activation in `terms` terms); otherwise they dequantize
    /// blocks of rows to F32 and call `cblas_sgemm`: the rows are split across our own threads
    /// and each thread's sgemm runs with OpenBLAS single-threaded
    /// (`GLMThreading.configureBLAS()` sets that once), so the two levels of threading never
    /// oversubscribe the cores.
    func matmul(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, terms: Int, workers: WorkerPool) {
        if count == 1 {
            matvec(x, y, terms: terms, workers: workers)
            return
        }
        let ys = SharedPointer(y)
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x))
        if let tiles {
            // Integer products on the tiles: each tile's weights are unpacked once for all the
            // tokens; groups of 16 rows split across threads.
            let xq = QuantizedActivation(x, count: count * cols, terms: terms, widened: tiles.readsWidened, workers: workers)
            defer { xq.deallocate() }
            parallelBatchGroups(tiles.groups, tokens: count, workers: workers) { range in
                tiles.matmul(range, xq, tokens: count, ys.p, ldy: rows)
            }
            return
        }
        GLMThreading.configureBLAS()
        // Row blocks: at most 512 rows (bounded scratch; fewer, larger calls pack the
        // activations fewer times), at least two per thread for balance.
        let perThread = (rows + 2 * workers.size - 1) / (2 * workers.size)
        let chunkRows = max(16, min(512, (perThread + 15) / 16 * 16))
        let nChunks = (rows + chunkRows - 1) / chunkRows
        parallelChunks(nChunks, workers: workers) { chunks in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: chunkRows * cols)
            defer { buf.deallocate() }
            for c in chunks {
                let r0 = c * chunkRows, n = min(chunkRows, rows - r0)
                dequantize(type, row(r0), buf, count: n * cols)
                // Y[count × n] (at column r0, stride rows) = X[count × cols] · buf[n × cols]ᵀ,
                // added to zeros written here: OpenBLAS's own zeroing for beta = 0
                // (`sgemm_beta`) took 5.3% of a 194-token prompt, these memsets 1.8%; the
                // same floats (0 + s = s).
                for t in 0..<count { (ys.p + t * rows + r0).update(repeating: 0, count: n) }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                            Int32(count), Int32(n), Int32(cols),
                            1, xs.p, Int32(cols), buf, Int32(cols),
                            1, ys.p + r0, Int32(rows))
            }
        }
    }
}

/// Thread counts of the kernels, and the process-wide threading set-up of the BLAS library.
public enum GLMThreading {
    /// The default thread count: the thread budget's cores (`ThreadBudget.cores`).
    public static var defaultThreadCount: Int { ThreadBudget.cores }

    /// How many threads per active core a context may use: more only adds switching.
    public static let maximumThreadsPerCore = 4

    /// Most kernel threads of one context: `maximumThreadsPerCore` × the active cores
    /// (8 on a 2-core machine). Each context starts that many threads less one.
    public static var maximumThreadCount: Int { maximumThreadsPerCore * defaultThreadCount }

    /// - Throws: `EngramError` `.invalidArgument` (`invalidThreadCount`) unless `threads` is
    ///   in 1...`maximumThreadCount`.
    static func validate(_ threads: Int) throws {
        guard threads >= 1, threads <= maximumThreadCount else {
            throw EngramError(.invalidArgument, """
                \(threads) kernel threads: use 1...\(maximumThreadCount) (at most \(maximumThreadsPerCore) per active core; \
                this machine has \(defaultThreadCount))
                """, reason: .invalidThreadCount)
        }
    }

    private static let blasConfigured: Bool = {
        // Our kernels split work across threads themselves; OpenBLAS must stay single-threaded
        // inside each call.
        ThreadBudget.configureBLAS(for: .kernels) { openblas_set_num_threads($0) }
        return true
    }()

    static func configureBLAS() { _ = blasConfigured }
}

import Foundation
