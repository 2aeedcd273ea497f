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
    /// Terms of the activation for the tile kernels in the products whose input is not
    /// normalized (see `WeightTiles.promptActivationTerms`); those of a normalized input take
    /// `WeightTiles.normalizedInputTerms`.
    let terms: Int
    /// Whether these tokens' keys and values are in the cache already (`lastToken`): attention
    /// then projects only the queries.
    let keysValuesCached: Bool

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

    init(model: GLMModel, cache: KVCache, workers: WorkerPool, count: Int, start: Int, terms: Int) {
        self.terms = terms
        keysValuesCached = false
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

    /// A state over `rows` rows of this one, from `first` on (positions `start + first…`): the
    /// same buffers, offset. Only the state made by `init` deallocates them.
    private init(rowsOf s: ForwardState, from first: Int, count rows: Int, keysValuesCached: Bool) {
        let c = s.model.config, half = c.ropeDimensions / 2
        model = s.model
        cache = s.cache
        workers = s.workers
        terms = s.terms
        self.keysValuesCached = keysValuesCached
        count = rows
        start = s.start + first
        x = s.x + first * c.embeddingLength
        a = s.a + first * c.embeddingLength
        o = s.o + first * c.embeddingLength
        q = s.q + first * c.queryDimension
        k = s.k + first * c.kvDimension
        v = s.v + first * c.kvDimension
        att = s.att + first * c.queryDimension
        hidden = s.hidden + first * 2 * c.feedForwardLength
        ropeCos = s.ropeCos + first * half
        ropeSin = s.ropeSin + first * half
    }

    /// The state of the batch's last token alone, for a last layer whose other outputs nothing
    /// reads, once `storeKeysValues` has cached every token's keys and values (which it does
    /// not compute again: the cache is the same whether or not a prompt ends here).
    var lastToken: ForwardState { ForwardState(rowsOf: self, from: count - 1, count: 1, keysValuesCached: true) }

    func deallocate() {
        for p in [x, a, o, q, k, v, att, hidden, ropeCos, ropeSin] { p.deallocate() }
    }

    var config: GLMModelConfig { model.config }

    // MARK: Element-wise pieces

    /// Fewest tokens a thread takes at a time in the element-wise steps: a token's step is a
    /// microsecond or less, so one token (decode) stays on the calling thread, while a prompt's
    /// steps no longer leave the other threads waiting.
    static let minimumTokensPerChunk = 8

    /// `body` over the batch's tokens, in ranges split across the threads. Each token's result
    /// is the same however the tokens are split.
    private func forTokens(_ body: (Range<Int>) -> Void) {
        parallelChunks(count, workers: workers, minimumChunk: Self.minimumTokensPerChunk, body)
    }

    /// `dst[t] = rmsnorm(src[t]) · w` for every token (`dst` may be `src`).
    func normalize(_ src: UnsafeMutablePointer<Float>, _ w: [Float], into dst: UnsafeMutablePointer<Float>) {
        let e = config.embeddingLength, eps = config.rmsEpsilon
        w.withUnsafeBufferPointer { wp in
            forTokens { tokens in
                let at = tokens.lowerBound * e
                rmsNorm(src + at, wp.baseAddress!, dst + at, rows: tokens.count, e, eps: eps)
            }
        }
    }

    /// `x += y`.
    func addResidual(_ y: UnsafeMutablePointer<Float>) {
        let e = config.embeddingLength
        forTokens { tokens in
            for i in tokens.lowerBound * e..<tokens.upperBound * e { x[i] += y[i] }
        }
    }

    /// Adds `bias` to each of the `count` rows of `dst` (row stride `stride`).
    private func addBias(_ bias: [Float]?, _ dst: UnsafeMutablePointer<Float>, stride: Int) {
        guard let bias else { return }
        forTokens { tokens in
            for t in tokens {
                for i in 0..<bias.count { dst[t * stride + i] += bias[i] }
            }
        }
    }

    /// NORM-style RoPE on `heads` heads of every token row (`stride` floats per row):
    /// pair (x[2i], x[2i+1]) for i < n_rot/2 rotates by pos·base^(−2i/n_rot).
    private func rope(_ p: UnsafeMutablePointer<Float>, heads: Int, stride: Int) {
        let hd = config.headDim, half = config.ropeDimensions / 2
        forTokens { tokens in
            for t in tokens {
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
    }

    // MARK: Attention

    /// Rounds every token's `width` floats (`p`: count × width) to half precision in place: the
    /// queries meet the F16 keys at the cache's precision, as in llama.cpp (whose logits the
    /// engine is held to).
    private func roundToHalf(_ p: UnsafeMutablePointer<Float>, width: Int) {
        forTokens { tokens in
            let n = tokens.count * width, at = p + tokens.lowerBound * width
            let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: n)
            defer { halves.deallocate() }
            ek_f32_to_f16(at, halves, Int64(n))
            ek_f16_to_f32(halves, at, Int64(n))
        }
    }

    /// Appends this batch's keys and values to the cache of `layer`.
    private func storeInCache(layer: Int) {
        let kvd = config.kvDimension, keys = cache.keys[layer], values = cache.values[layer]
        forTokens { tokens in
            let first = tokens.lowerBound
            cache.store(k + first * kvd, into: keys, position: start + first, count: tokens.count)
            cache.store(v + first * kvd, into: values, position: start + first, count: tokens.count)
        }
    }

    /// `o = attn_output · softmax(q·kᵀ/√hd + causal mask) · v` from the normalized input `a`,
    /// after appending this batch's keys and values to the cache of `layer`.
    func attention(_ b: BlockWeights, layer: Int) {
        project(b, queries: true, keysValues: !keysValuesCached)
        roundToHalf(q, width: config.queryDimension)
        if !keysValuesCached { storeInCache(layer: layer) }
        attend(keys: cache.keys[layer], values: cache.values[layer])
        b.wo.matmul(att, o, count: count, terms: terms, workers: workers)
    }

    /// Appends this batch's keys and values to the cache of `layer` and computes nothing else:
    /// the last layer of a batch whose outputs are not read (a prompt's batch before its last),
    /// or are read for the last token only (see `lastToken`). Every block starts with
    /// `a = rmsnorm(x) · attn_norm` and its attention.
    func storeKeysValues(_ b: BlockWeights, layer: Int) {
        normalize(x, b.attnNorm, into: a)
        project(b, queries: false, keysValues: true)
        storeInCache(layer: layer)
    }

    /// `q` (with `queries`), `k` and `v` (with `keysValues`) from `a`, with their biases and
    /// RoPE (a fused `attn_qkv` computes all three).
    private func project(_ b: BlockWeights, queries: Bool, keysValues: Bool) {
        let c = config, qd = c.queryDimension, kvd = c.kvDimension
        if let wqkv = b.wqkv {
            let n = qd + 2 * kvd
            let qkv = UnsafeMutablePointer<Float>.allocate(capacity: count * n)
            defer { qkv.deallocate() }
            wqkv.matmul(a, qkv, count: count, terms: WeightTiles.normalizedInputTerms, workers: workers)
            addBias(b.bqkv, qkv, stride: n)
            for t in 0..<count {
                (q + t * qd).update(from: qkv + t * n, count: qd)
                (k + t * kvd).update(from: qkv + t * n + qd, count: kvd)
                (v + t * kvd).update(from: qkv + t * n + qd + kvd, count: kvd)
            }
        } else {
            let wanted = (queries ? [(b.wq!, q)] : []) + (keysValues ? [(b.wk!, k), (b.wv!, v)] : [])
            QuantizedDot.matmulGroup(wanted.map(\.0), a, wanted.map(\.1), count: count, terms: WeightTiles.normalizedInputTerms, workers: workers)
            if queries { addBias(b.bq, q, stride: qd) }
            if keysValues {
                addBias(b.bk, k, stride: kvd)
                addBias(b.bv, v, stride: kvd)
            }
        }
        if queries { rope(q, heads: c.headCount, stride: qd) }
        if keysValues { rope(k, heads: c.headCountKV, stride: kvd) }
    }

    /// Tokens of a batch that share one widening of the cached keys and values.
    static let attentionTokenChunk = 32

    /// Causal attention of every token of the batch over the cache (`ek_attention_heads`: the
    /// same arithmetic for any batch, so results do not depend on how tokens were batched).
    /// Work items are a KV head's chunk of tokens paired with its mirror (the first with the
    /// last, …), so that every item sees about as many positions and the threads finish together
    /// (a head's chunks in order left the thread with the last ones the most work). Each chunk
    /// widens its KV head's keys (transposed, a position a column) and values to F32 for the
    /// positions its tokens see that the thread has not widened for that head yet, then runs
    /// the query heads of the group together for each token (one read of the keys and values
    /// for all of them).
    private func attend(keys: UnsafeMutablePointer<UInt16>, values: UnsafeMutablePointer<UInt16>) {
        let c = config, qd = c.queryDimension, kvd = c.kvDimension, kvHeads = c.headCountKV
        let hd = c.headDim, group = c.headCount / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let count = self.count, start = self.start, total = start + count
        let ldk = (total + 15) / 16 * 16 // the transposed keys' row length (ek_attention_heads)
        let chunk = Self.attentionTokenChunk, chunks = (count + chunk - 1) / chunk, pairs = (chunks + 1) / 2
        let qs = SharedPointer(q), outs = SharedPointer(att)
        let ks = SharedPointer(keys), vs = SharedPointer(values)
        parallelChunks(kvHeads * pairs, workers: workers) { items in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: group * ldk)
            let kt = UnsafeMutablePointer<Float>.allocate(capacity: hd * ldk)
            let vf = UnsafeMutablePointer<Float>.allocate(capacity: total * hd)
            defer { scores.deallocate(); kt.deallocate(); vf.deallocate() }
            var widened = (head: -1, positions: 0)
            for item in items {
                let g = item / pairs, p = item % pairs
                for tc in p == chunks - 1 - p ? [p] : [p, chunks - 1 - p] {
                    let t0 = tc * chunk, t1 = min(count, t0 + chunk)
                    let seen = start + t1 // positions the chunk's last token sees
                    let from = widened.head == g ? widened.positions : 0
                    if from < seen {
                        ek_f16_to_f32_columns(ks.p + from * kvd + g * hd, Int64(kvd), Int64(seen - from), Int64(hd),
                                              kt + from, Int64(ldk))
                        widen(vs.p + from * kvd + g * hd, stride: kvd, rows: seen - from, cols: hd, into: vf + from * hd)
                        widened = (g, seen)
                    }
                    // The kernel reads the keys up to the next multiple of 16 past what a token
                    // sees and uses none of them: widened keys or zeros there (not whatever the
                    // allocation held, denormals included).
                    let valid = widened.positions, padded = min(ldk, (seen + 15) / 16 * 16)
                    if valid < padded {
                        for d in 0..<hd { (kt + d * ldk + valid).update(repeating: 0, count: padded - valid) }
                    }
                    for t in t0..<t1 {
                        let n = start + t + 1 // causal: positions 0...start+t
                        let first = t * qd + g * group * hd // the group's heads are adjacent
                        ek_attention_heads(qs.p + first, Int64(group), kt, Int64(ldk), vf, Int64(hd), Int64(n), scale, scores,
                                           outs.p + first)
                    }
                }
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
            QuantizedDot.matmulGroup([gate, b.up], a, [hidden, up], count: count, terms: WeightTiles.normalizedInputTerms, workers: workers)
            forTokens { tokens in
                let at = tokens.lowerBound * ff
                ek_silu_mul(hidden + at, up + at, hidden + at, Int64(tokens.count * ff))
            }
        } else {
            b.up.matmul(a, hidden, count: count, terms: WeightTiles.normalizedInputTerms, workers: workers) // [T × 2ff]: gate | up
            for t in 0..<count {
                let g = hidden + t * 2 * ff // dst trails g by t·ff ≥ ff values: safe element-wise
                ek_silu_mul(g, g + ff, hidden + t * ff, Int64(ff))
            }
        }
        b.down.matmul(hidden, o, count: count, terms: terms, workers: workers)
    }
}
