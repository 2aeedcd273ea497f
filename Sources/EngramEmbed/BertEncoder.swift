import CBLAS
import EngramBase
import Dispatch

/// The BERT forward pass with mean pooling and L2 normalisation, for a batch of token-id
/// sequences.
///
/// Batches are packed: the tokens of all sentences sit one after another as rows of a
/// `[totalTokens, hidden]` matrix, with no padding rows. Every per-token step (embeddings,
/// the Q/K/V, output and feed-forward projections, LayerNorm, GELU) runs on blocks of rows
/// with `cblas_sgemm` and vectorised loops; attention runs per sentence and per head over
/// that sentence's own rows only. This is exactly BERT with a padding mask (masked keys get
/// weight 0, padded rows are never pooled), without computing the padding.
///
/// Parallelism: `workers` threads share each batch, in one of two ways.
/// - Row blocks (batches of at least `columnSplitRowLimit` tokens): everything between two
///   attention steps is independent per token, so each worker takes a contiguous block of rows
///   and runs output projection → add & LayerNorm → feed-forward → add & LayerNorm → next
///   layer's Q/K/V on it alone; attention is split by heads. Two synchronisation points per layer.
/// - Column blocks (smaller batches, e.g. one sentence): splitting ~25 rows would leave each
///   `sgemm` too few rows to pay for packing its whole weight matrix, so instead each worker
///   computes a block of output columns of every product (its own heads' Q/K/V and attention,
///   then slices of the output and feed-forward projections), LayerNorms are split by rows.
///   Six synchronisation points per layer, but each worker packs only its share of the weights.
/// OpenBLAS itself should run single-threaded inside the workers (see `MiniLMEmbedder`).
///
/// Thread-safety: immutable; `embed` allocates its own scratch space, so concurrent calls are safe.
struct BertEncoder: Sendable {
    let configuration: BertConfiguration
    let weights: BertWeights

    /// Row-major scratch matrices for one packed batch of `tokens` rows. Workers write
    /// disjoint row blocks (or head columns) between synchronisation points, hence unchecked.
    private final class Scratch: @unchecked Sendable {
        let hidden: UnsafeMutablePointer<Float>       // [tokens, H]   the residual stream
        let qkv: UnsafeMutablePointer<Float>          // [tokens, 3H]
        let context: UnsafeMutablePointer<Float>      // [tokens, H]   attention output before projection
        let projected: UnsafeMutablePointer<Float>    // [tokens, H]
        let intermediate: UnsafeMutablePointer<Float> // [tokens, F]
        let scores: UnsafeMutablePointer<Float>       // [workers, maxLength, maxLength]
        let scoresPerWorker: Int

        init(tokens: Int, hidden h: Int, intermediate f: Int, maxLength: Int, workers: Int) {
            hidden = .allocate(capacity: tokens * h)
            qkv = .allocate(capacity: tokens * 3 * h)
            context = .allocate(capacity: tokens * h)
            projected = .allocate(capacity: tokens * h)
            intermediate = .allocate(capacity: tokens * f)
            scoresPerWorker = maxLength * maxLength
            scores = .allocate(capacity: workers * scoresPerWorker)
        }

        deinit {
            hidden.deallocate(); qkv.deallocate(); context.deallocate()
            projected.deallocate(); intermediate.deallocate(); scores.deallocate()
        }
    }

    /// Passes with fewer tokens than this split columns between workers instead of rows.
    static let columnSplitRowLimit = 64

    /// Runs `body(0..<workers)` concurrently and waits for all of them, through the thread
    /// budget's gate (one parallel phase of the embedder or the engine at a time).
    private func parallel(_ workers: Int, _ body: @Sendable (Int) -> Void) {
        if workers == 1 { body(0) } else {
            ThreadBudget.gate.withCores { DispatchQueue.concurrentPerform(iterations: workers, execute: body) }
        }
    }

    /// `count` split into `parts` contiguous, nearly equal ranges whose bounds are multiples
    /// of `unit` (except the end).
    private static func split(_ count: Int, into parts: Int, unit: Int = 1) -> [Range<Int>] {
        let units = (count + unit - 1) / unit
        return (0..<parts).map { p in
            min(count, units * p / parts * unit)..<min(count, units * (p + 1) / parts * unit)
        }
    }

    /// Embeds each id sequence (each already `[CLS] … [SEP]`, non-empty, no longer than
    /// `maxPositions`, ids below `vocabularySize`) into an L2-normalised vector of
    /// `hiddenSize` floats, using `workers` threads.
    func embed(_ sequences: [[Int32]], workers requested: Int = 1) -> [[Float]] {
        guard !sequences.isEmpty else { return [] }
        let c = configuration
        let h = c.hiddenSize
        let lengths = sequences.map(\.count)
        let total = lengths.reduce(0, +)
        let longest = lengths.max()!
        var starts: [Int] = []
        starts.reserveCapacity(lengths.count)
        var running = 0
        for n in lengths { starts.append(running); running += n }
        let offsets = starts
        // Flattened ids and positions, one per row.
        let ids = sequences.flatMap { $0 }
        let positions = lengths.flatMap { 0..<$0 }

        // More workers than rows would only add overhead.
        let workers = max(1, min(requested, total / 4, c.headCount))
        let s = Scratch(tokens: total, hidden: h, intermediate: c.intermediateSize, maxLength: longest, workers: workers)

        if workers > 1 && total < Self.columnSplitRowLimit {
            runByColumns(s, ids: ids, positions: positions, offsets: offsets, lengths: lengths, workers: workers)
        } else {
            runByRows(s, ids: ids, positions: positions, offsets: offsets, lengths: lengths, workers: workers)
        }

        // Mean pooling over each sentence's tokens, then L2 normalisation.
        return (0..<sequences.count).map { b in
            [Float](unsafeUninitializedCapacity: h) { v, initialized in
                v.initialize(repeating: 0)
                let n = lengths[b]
                for p in 0..<n {
                    let row = s.hidden + (offsets[b] + p) * h
                    for j in 0..<h { v[j] += row[j] }
                }
                var norm: Float = 0
                for j in 0..<h { v[j] /= Float(n); norm += v[j] * v[j] }
                let scale = 1 / max(norm.squareRoot(), 1e-12)
                for j in 0..<h { v[j] *= scale }
                initialized = h
            }
        }
    }

    /// All layers, each worker on a block of rows (attention: a block of heads).
    private func runByRows(_ s: Scratch, ids: [Int32], positions: [Int], offsets: [Int], lengths: [Int], workers: Int) {
        let rowBlocks = Self.split(ids.count, into: workers)
        let headBlocks = Self.split(configuration.headCount, into: workers)
        parallel(workers) { w in
            embedTokens(s, ids: ids, positions: positions, rows: rowBlocks[w])
            projectQKV(s, layer: weights.layers[0], rows: rowBlocks[w])
        }
        for (index, layer) in weights.layers.enumerated() {
            parallel(workers) { w in
                attention(s, offsets: offsets, lengths: lengths, heads: headBlocks[w],
                          scores: s.scores + w * s.scoresPerWorker)
            }
            parallel(workers) { w in
                feedForward(s, layer: layer, rows: rowBlocks[w])
                if index + 1 < weights.layers.count {
                    projectQKV(s, layer: weights.layers[index + 1], rows: rowBlocks[w])
                }
            }
        }
    }

    /// All layers, each worker on a block of output columns of every product (attention: the
    /// heads whose Q/K/V columns it computed), LayerNorm on a block of rows.
    private func runByColumns(_ s: Scratch, ids: [Int32], positions: [Int], offsets: [Int], lengths: [Int], workers: Int) {
        let c = configuration
        let h = c.hiddenSize, f = c.intermediateSize, d = c.headSize, eps = c.layerNormEpsilon
        let n = ids.count
        let rowBlocks = Self.split(n, into: workers)
        let headBlocks = Self.split(c.headCount, into: workers)
        let hiddenBlocks = Self.split(h, into: workers, unit: vecWidth)
        let intermediateBlocks = Self.split(f, into: workers, unit: vecWidth)
        parallel(workers) { w in
            embedTokens(s, ids: ids, positions: positions, rows: rowBlocks[w])
        }
        for layer in weights.layers {
            parallel(workers) { w in
                // This worker's heads: their Q, K and V columns, then their attention.
                let heads = headBlocks[w]
                guard !heads.isEmpty else { return }
                for part in 0..<3 {
                    let first = part * h + heads.lowerBound * d
                    linear(s.hidden, rows: n, inputs: h, weight: layer.qkvWeight.pointer + first * h,
                           bias: layer.qkvBias.pointer + first, outputs: heads.count * d, into: s.qkv + first, outputStride: 3 * h)
                }
                attention(s, offsets: offsets, lengths: lengths, heads: heads, scores: s.scores + w * s.scoresPerWorker)
            }
            parallel(workers) { w in
                // projected[:, block] = context · Wo[block]ᵀ + bo[block]
                let block = hiddenBlocks[w]
                guard !block.isEmpty else { return }
                linear(s.context, rows: n, inputs: h, weight: layer.attentionOutWeight.pointer + block.lowerBound * h,
                       bias: layer.attentionOutBias.pointer + block.lowerBound, outputs: block.count,
                       into: s.projected + block.lowerBound, outputStride: h)
            }
            parallel(workers) { w in
                let rows = rowBlocks[w]
                guard !rows.isEmpty else { return }
                layerNorm(s.projected + rows.lowerBound * h, residual: s.hidden + rows.lowerBound * h,
                          gain: layer.attentionNormGain.pointer, bias: layer.attentionNormBias.pointer,
                          rows: rows.count, width: h, epsilon: eps)
            }
            parallel(workers) { w in
                // intermediate[:, block] = GELU(projected · W1[block]ᵀ + b1[block])
                let block = intermediateBlocks[w]
                guard !block.isEmpty else { return }
                linear(s.projected, rows: n, inputs: h, weight: layer.intermediateWeight.pointer + block.lowerBound * h,
                       bias: layer.intermediateBias.pointer + block.lowerBound, outputs: block.count,
                       into: s.intermediate + block.lowerBound, outputStride: f)
                for r in 0..<n { geluInPlace(s.intermediate + r * f + block.lowerBound, count: block.count) }
            }
            parallel(workers) { w in
                // hidden[:, block] = intermediate · W2[block]ᵀ + b2[block]
                let block = hiddenBlocks[w]
                guard !block.isEmpty else { return }
                linear(s.intermediate, rows: n, inputs: f, weight: layer.outputWeight.pointer + block.lowerBound * f,
                       bias: layer.outputBias.pointer + block.lowerBound, outputs: block.count,
                       into: s.hidden + block.lowerBound, outputStride: h)
            }
            parallel(workers) { w in
                let rows = rowBlocks[w]
                guard !rows.isEmpty else { return }
                layerNorm(s.hidden + rows.lowerBound * h, residual: s.projected + rows.lowerBound * h,
                          gain: layer.outputNormGain.pointer, bias: layer.outputNormBias.pointer,
                          rows: rows.count, width: h, epsilon: eps)
            }
        }
    }

    /// hidden[rows] = LayerNorm(word[id] + position[p] + tokenType[0]).
    private func embedTokens(_ s: Scratch, ids: [Int32], positions: [Int], rows: Range<Int>) {
        let h = configuration.hiddenSize
        let word = weights.wordEmbeddings.pointer, position = weights.positionEmbeddings.pointer
        let tokenType = weights.tokenTypeEmbeddings.pointer
        for r in rows {
            let row = s.hidden + r * h
            let w = word + Int(ids[r]) * h, pos = position + positions[r] * h
            for j in 0..<h { row[j] = w[j] + pos[j] + tokenType[j] }
        }
        layerNorm(s.hidden + rows.lowerBound * h, residual: nil, gain: weights.embeddingNormGain.pointer,
                  bias: weights.embeddingNormBias.pointer, rows: rows.count, width: h, epsilon: configuration.layerNormEpsilon)
    }

    /// qkv[rows, 3H] = hidden[rows] · [Wq; Wk; Wv]ᵀ + [bq; bk; bv].
    private func projectQKV(_ s: Scratch, layer: BertLayerWeights, rows: Range<Int>) {
        let h = configuration.hiddenSize
        guard !rows.isEmpty else { return }
        linear(s.hidden + rows.lowerBound * h, rows: rows.count, inputs: h, weight: layer.qkvWeight.pointer,
               bias: layer.qkvBias.pointer, outputs: 3 * h, into: s.qkv + rows.lowerBound * 3 * h)
    }

    /// For the given rows: attention output projection, add & LayerNorm, GELU feed-forward,
    /// add & LayerNorm; the result replaces `hidden`.
    private func feedForward(_ s: Scratch, layer: BertLayerWeights, rows: Range<Int>) {
        let h = configuration.hiddenSize, f = configuration.intermediateSize, eps = configuration.layerNormEpsilon
        let n = rows.count
        guard n > 0 else { return }
        let hidden = s.hidden + rows.lowerBound * h, context = s.context + rows.lowerBound * h
        let projected = s.projected + rows.lowerBound * h, intermediate = s.intermediate + rows.lowerBound * f
        // projected = LayerNorm(context · Woᵀ + bo + hidden)
        linear(context, rows: n, inputs: h, weight: layer.attentionOutWeight.pointer, bias: layer.attentionOutBias.pointer,
               outputs: h, into: projected)
        layerNorm(projected, residual: hidden, gain: layer.attentionNormGain.pointer, bias: layer.attentionNormBias.pointer,
                  rows: n, width: h, epsilon: eps)
        // intermediate = GELU(projected · W1ᵀ + b1)
        linear(projected, rows: n, inputs: h, weight: layer.intermediateWeight.pointer, bias: layer.intermediateBias.pointer,
               outputs: f, into: intermediate)
        geluInPlace(intermediate, count: n * f)
        // hidden = LayerNorm(intermediate · W2ᵀ + b2 + projected)
        linear(intermediate, rows: n, inputs: f, weight: layer.outputWeight.pointer, bias: layer.outputBias.pointer,
               outputs: h, into: hidden)
        layerNorm(hidden, residual: projected, gain: layer.outputNormGain.pointer, bias: layer.outputNormBias.pointer,
                  rows: n, width: h, epsilon: eps)
    }

    /// context[rows of sentence b, columns of head] = softmax(Q Kᵀ / √d) V, for every sentence
    /// and the given heads. `scores` holds at least longest² floats.
    private func attention(_ s: Scratch, offsets: [Int], lengths: [Int], heads: Range<Int>, scores: UnsafeMutablePointer<Float>) {
        let h = configuration.hiddenSize, d = configuration.headSize
        let ld = Int32(3 * h)
        let scale = 1 / Float(d).squareRoot()
        for (b, n) in lengths.enumerated() {
            let base = s.qkv + offsets[b] * 3 * h
            let out = s.context + offsets[b] * h
            for head in heads {
                let q = base + head * d, k = base + h + head * d, v = base + 2 * h + head * d
                // scores[n, n] = scale · Q_h K_hᵀ
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d),
                            scale, q, ld, k, ld, 0, scores, Int32(n))
                softmaxRows(scores, rows: n, count: n, stride: n)
                // context_h[n, d] = scores · V_h
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(n),
                            1, scores, Int32(n), v, ld, 0, out + head * d, Int32(h))
            }
        }
    }
}
