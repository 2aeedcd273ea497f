import CBLAS
import CKernels
import Foundation

/// Scratch buffers and shared operations for evaluating `count` tokens at positions
/// `start..<start+count`. All activations are row-major `[count × width]` F32.
struct ForwardState {
    let model: GLMModel
    let cache: KVCache
    let workers: WorkerPool
    let count: Int
    let start: Int

    let x: UnsafeMutablePointer<Float>      // [T × E] residual stream
    let a: UnsafeMutablePointer<Float>      // [T × E] normalized input of a sub-layer
    let o: UnsafeMutablePointer<Float>      // [T × E] sub-layer output
    let q: UnsafeMutablePointer<Float>      // [T × n_head·hd]
    let k: UnsafeMutablePointer<Float>      // [T × n_kv·hd]
    let v: UnsafeMutablePointer<Float>      // [T × n_kv·hd]
    let att: UnsafeMutablePointer<Float>    // [T × n_head·hd] attention output before attn_output
    let hidden: UnsafeMutablePointer<Float> // [T × 2·n_ff] FFN gate | up
    let ropeCos: UnsafeMutablePointer<Float> // [T × n_rot/2]
    let ropeSin: UnsafeMutablePointer<Float>

    init(model: GLMModel, cache: KVCache, workers: WorkerPool, count: Int, start: Int) {
        self.model = model
        self.cache = cache
        self.workers = workers
        self.count = count
        self.start = start
        let c = model.config
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            p.initialize(repeating: 0, count: max(1, n))
            return p
        }
        x = buffer(count * c.embeddingLength)
        a = buffer(count * c.embeddingLength)
        o = buffer(count * c.embeddingLength)
        q = buffer(count * c.queryDimension)
        k = buffer(count * c.kvDimension)
        v = buffer(count * c.kvDimension)
        att = buffer(count * c.queryDimension)
        hidden = buffer(count * 2 * c.feedForwardLength)
        let half = c.ropeDimensions / 2
        ropeCos = buffer(count * half)
        ropeSin = buffer(count * half)
        for t in 0..<count {
            let pos = Double(start + t)
            for i in 0..<half {
                let theta = pos * model.ropeInverseFrequencies[i]
                ropeCos[t * half + i] = Float(cos(theta))
                ropeSin[t * half + i] = Float(sin(theta))
            }
        }
    }

    func deallocate() {
        for p in [x, a, o, q, k, v, att, hidden, ropeCos, ropeSin] { p.deallocate() }
    }

    var config: GLMModelConfig { model.config }

    // MARK: Element-wise pieces

    /// `dst[t] = rmsnorm(src[t]) · w` for every token (`dst` may be `src`).
    func normalize(_ src: UnsafeMutablePointer<Float>, _ w: [Float], into dst: UnsafeMutablePointer<Float>) {
        let e = config.embeddingLength, eps = config.rmsEpsilon
        w.withUnsafeBufferPointer { wp in
            for t in 0..<count { rmsNorm(src + t * e, wp.baseAddress!, dst + t * e, e, eps: eps) }
        }
    }

    /// `x += y`.
    func addResidual(_ y: UnsafeMutablePointer<Float>) {
        let n = count * config.embeddingLength
        for i in 0..<n { x[i] += y[i] }
    }

    /// Adds `bias` to each of the `count` rows of `dst` (row stride `stride`).
    private func addBias(_ bias: [Float]?, _ dst: UnsafeMutablePointer<Float>, stride: Int) {
        guard let bias else { return }
        for t in 0..<count {
            for i in 0..<bias.count { dst[t * stride + i] += bias[i] }
        }
    }

    /// NORM-style RoPE on `heads` heads of every token row (`stride` floats per row):
    /// pair (x[2i], x[2i+1]) for i < n_rot/2 rotates by pos·base^(−2i/n_rot).
    private func rope(_ p: UnsafeMutablePointer<Float>, heads: Int, stride: Int) {
        let hd = config.headDim, half = config.ropeDimensions / 2
        for t in 0..<count {
            let cs = ropeCos + t * half, sn = ropeSin + t * half
            for h in 0..<heads {
                let base = p + t * stride + h * hd
                for i in 0..<half {
                    let x0 = base[2 * i], x1 = base[2 * i + 1]
                    base[2 * i] = x0 * cs[i] - x1 * sn[i]
                    base[2 * i + 1] = x0 * sn[i] + x1 * cs[i]
                }
            }
        }
    }

    // MARK: Attention

    /// `o = attn_output · softmax(q·kᵀ/√hd + causal mask) · v` from the normalized input `a`,
    /// after appending this batch's keys and values to the cache of `layer`.
    func attention(_ b: BlockWeights, layer: Int) {
        let c = config, qd = c.queryDimension, kvd = c.kvDimension
        if let wqkv = b.wqkv {
            let n = qd + 2 * kvd
            let qkv = UnsafeMutablePointer<Float>.allocate(capacity: count * n)
            defer { qkv.deallocate() }
            wqkv.matmul(a, qkv, count: count, workers: workers)
            addBias(b.bqkv, qkv, stride: n)
            for t in 0..<count {
                (q + t * qd).update(from: qkv + t * n, count: qd)
                (k + t * kvd).update(from: qkv + t * n + qd, count: kvd)
                (v + t * kvd).update(from: qkv + t * n + qd + kvd, count: kvd)
            }
        } else if count == 1 {
            QuantizedDot.matvecGroup([b.wq!, b.wk!, b.wv!], a, [q, k, v], workers: workers)
            addBias(b.bq, q, stride: qd)
            addBias(b.bk, k, stride: kvd)
            addBias(b.bv, v, stride: kvd)
        } else {
            b.wq!.matmul(a, q, count: count, workers: workers)
            b.wk!.matmul(a, k, count: count, workers: workers)
            b.wv!.matmul(a, v, count: count, workers: workers)
            addBias(b.bq, q, stride: qd)
            addBias(b.bk, k, stride: kvd)
            addBias(b.bv, v, stride: kvd)
        }
        rope(q, heads: c.headCount, stride: qd)
        rope(k, heads: c.headCountKV, stride: kvd)

        let keys = cache.keys[layer], values = cache.values[layer]
        cache.store(k, into: keys, position: start, count: count)
        cache.store(v, into: values, position: start, count: count)

        if count >= ForwardState.batchedAttentionThreshold {
            batchedAttention(keys: keys, values: values)
        } else {
            tokenAttention(keys: keys, values: values)
        }
        b.wo.matmul(att, o, count: count, workers: workers)
    }

    /// Batches at least this long compute attention per head with two sgemm calls.
    static let batchedAttentionThreshold = 16

    /// Attention token by token: for each (token, KV head), the cached keys and values are
    /// widened to F32 once, then each query head of the group takes scores over the cached
    /// positions, softmax, and the weighted sum of values.
    private func tokenAttention(keys: UnsafeMutablePointer<UInt16>, values: UnsafeMutablePointer<UInt16>) {
        let c = config, qd = c.queryDimension, kvd = c.kvDimension
        let hd = c.headDim, group = c.headCount / c.headCountKV
        let scale = 1 / Float(hd).squareRoot()
        let total = start + count
        let qs = SharedPointer(q), outs = SharedPointer(att)
        let ks = SharedPointer(keys), vs = SharedPointer(values)
        let start = self.start
        parallelChunks(count * c.headCountKV, workers: workers) { items in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: total)
            let kf = UnsafeMutablePointer<Float>.allocate(capacity: total * hd)
            let vf = UnsafeMutablePointer<Float>.allocate(capacity: total * hd)
            defer { scores.deallocate(); kf.deallocate(); vf.deallocate() }
            for item in items {
                let t = item / c.headCountKV, g = item % c.headCountKV
                let n = start + t + 1 // causal: positions 0...start+t
                widen(ks.p + g * hd, stride: kvd, rows: n, cols: hd, into: kf)
                widen(vs.p + g * hd, stride: kvd, rows: n, cols: hd, into: vf)
                for h in g * group..<(g + 1) * group {
                    let qh = qs.p + t * qd + h * hd
                    for j in 0..<n { scores[j] = dot(qh, kf + j * hd, hd) * scale }
                    ek_softmax_rows(scores, 1, Int64(n), Int64(n))
                    let out = outs.p + t * qd + h * hd
                    out.update(repeating: 0, count: hd)
                    for j in 0..<n { axpy(scores[j], vf + j * hd, out, hd) }
                }
            }
        }
    }

    /// Attention for a batch, head by head: `S = Q_h·K_gᵀ/√hd` (count × total), causal mask,
    /// row softmax, `O_h = S·V_g`; heads split across threads, BLAS single-threaded inside.
    private func batchedAttention(keys: UnsafeMutablePointer<UInt16>, values: UnsafeMutablePointer<UInt16>) {
        GLMThreading.configureBLAS()
        let c = config, qd = c.queryDimension, kvd = c.kvDimension
        let hd = c.headDim, group = c.headCount / c.headCountKV
        let scale = 1 / Float(hd).squareRoot()
        let total = start + count, count = self.count, start = self.start
        let qs = SharedPointer(q), outs = SharedPointer(att)
        let ks = SharedPointer(keys), vs = SharedPointer(values)
        parallelChunks(c.headCount, workers: workers) { heads in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: count * total)
            let kf = UnsafeMutablePointer<Float>.allocate(capacity: total * hd)
            let vf = UnsafeMutablePointer<Float>.allocate(capacity: total * hd)
            defer { s.deallocate(); kf.deallocate(); vf.deallocate() }
            for h in heads {
                let g = h / group
                widen(ks.p + g * hd, stride: kvd, rows: total, cols: hd, into: kf)
                widen(vs.p + g * hd, stride: kvd, rows: total, cols: hd, into: vf)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(total), Int32(hd),
                            scale, qs.p + h * hd, Int32(qd), kf, Int32(hd), 0, s, Int32(total))
                for t in 0..<count {
                    let row = s + t * total, n = start + t + 1
                    ek_softmax_rows(row, 1, Int64(n), Int64(total))
                    (row + n).update(repeating: 0, count: total - n)
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(hd), Int32(total),
                            1, s, Int32(total), vf, Int32(hd), 0, outs.p + h * hd, Int32(qd))
            }
        }
    }

    // MARK: Feed-forward

    /// `o = ffn_down · (silu(gate) ⊙ up)` from the normalized input `a`; gate and up come from
    /// separate matrices or from the two halves of a fused `ffn_up`.
    func feedForward(_ b: BlockWeights) {
        let ff = config.feedForwardLength
        if let gate = b.gate {
            let up = UnsafeMutablePointer<Float>.allocate(capacity: count * ff)
            defer { up.deallocate() }
            if count == 1 {
                QuantizedDot.matvecGroup([gate, b.up], a, [hidden, up], workers: workers)
            } else {
                gate.matmul(a, hidden, count: count, workers: workers)
                b.up.matmul(a, up, count: count, workers: workers)
            }
            ek_silu_mul(hidden, up, hidden, Int64(count * ff))
        } else {
            b.up.matmul(a, hidden, count: count, workers: workers) // [T × 2ff]: gate | up
            for t in 0..<count {
                let g = hidden + t * 2 * ff // dst trails g by t·ff ≥ ff values: safe element-wise
                ek_silu_mul(g, g + ff, hidden + t * ff, Int64(ff))
            }
        }
        b.down.matmul(hidden, o, count: count, workers: workers)
    }
}
