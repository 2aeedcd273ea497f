import CBLAS

/// The BERT forward pass with mean pooling and L2 normalisation, for a batch of token-id
/// sequences.
///
/// Batches are packed: the tokens of all sentences sit one after another as rows of a
/// `[totalTokens, hidden]` matrix, with no padding rows. Every per-token step (embeddings,
/// the Q/K/V, output and feed-forward projections, LayerNorm, GELU) runs as one `cblas_sgemm`
/// or one vectorised loop over the whole batch; attention runs per sentence and per head over
/// that sentence's own rows only. This is exactly BERT with a padding mask (masked keys get
/// weight 0, padded rows are never pooled), without computing the padding.
///
/// Thread-safety: immutable; `embed` allocates its own scratch space, so concurrent calls are safe.
struct BertEncoder: Sendable {
    let configuration: BertConfiguration
    let weights: BertWeights

    /// Row-major scratch matrices for one packed batch of `tokens` rows.
    private final class Scratch {
        let hidden: UnsafeMutablePointer<Float>      // [tokens, H]   the residual stream
        let qkv: UnsafeMutablePointer<Float>         // [tokens, 3H]
        let context: UnsafeMutablePointer<Float>     // [tokens, H]   attention output before projection
        let projected: UnsafeMutablePointer<Float>   // [tokens, H]
        let intermediate: UnsafeMutablePointer<Float> // [tokens, F]
        let scores: UnsafeMutablePointer<Float>      // [maxLength, maxLength]

        init(tokens: Int, hidden h: Int, intermediate f: Int, maxLength: Int) {
            hidden = .allocate(capacity: tokens * h)
            qkv = .allocate(capacity: tokens * 3 * h)
            context = .allocate(capacity: tokens * h)
            projected = .allocate(capacity: tokens * h)
            intermediate = .allocate(capacity: tokens * f)
            scores = .allocate(capacity: maxLength * maxLength)
        }

        deinit {
            hidden.deallocate(); qkv.deallocate(); context.deallocate()
            projected.deallocate(); intermediate.deallocate(); scores.deallocate()
        }
    }

    /// Embeds each id sequence (each already `[CLS] … [SEP]`, non-empty, no longer than
    /// `maxPositions`) into an L2-normalised vector of `hiddenSize` floats.
    func embed(_ sequences: [[Int32]]) -> [[Float]] {
        guard !sequences.isEmpty else { return [] }
        let c = configuration
        let h = c.hiddenSize, f = c.intermediateSize
        let lengths = sequences.map(\.count)
        let total = lengths.reduce(0, +)
        let longest = lengths.max()!
        var offsets: [Int] = []
        offsets.reserveCapacity(lengths.count)
        var running = 0
        for n in lengths { offsets.append(running); running += n }

        let s = Scratch(tokens: total, hidden: h, intermediate: f, maxLength: longest)

        // Embeddings: word + position + token type 0, then LayerNorm.
        let word = weights.wordEmbeddings.pointer, position = weights.positionEmbeddings.pointer
        let tokenType = weights.tokenTypeEmbeddings.pointer
        for (b, ids) in sequences.enumerated() {
            for (p, id) in ids.enumerated() {
                let row = s.hidden + (offsets[b] + p) * h
                let w = word + Int(id) * h, pos = position + p * h
                for j in 0..<h { row[j] = w[j] + pos[j] + tokenType[j] }
            }
        }
        layerNorm(s.hidden, residual: nil, gain: weights.embeddingNormGain.pointer, bias: weights.embeddingNormBias.pointer,
                  rows: total, width: h, epsilon: c.layerNormEpsilon)

        for layer in weights.layers {
            // Self-attention: [tokens, 3H] = hidden · [Wq; Wk; Wv]ᵀ + b.
            linear(s.hidden, rows: total, inputs: h, weight: layer.qkvWeight.pointer, bias: layer.qkvBias.pointer,
                   outputs: 3 * h, into: s.qkv)
            attention(s, offsets: offsets, lengths: lengths)
            linear(s.context, rows: total, inputs: h, weight: layer.attentionOutWeight.pointer, bias: layer.attentionOutBias.pointer,
                   outputs: h, into: s.projected)
            // hidden ← LayerNorm(projected + hidden)
            layerNorm(s.projected, residual: s.hidden, gain: layer.attentionNormGain.pointer, bias: layer.attentionNormBias.pointer,
                      rows: total, width: h, epsilon: c.layerNormEpsilon)
            // Feed-forward: GELU(hidden · W1ᵀ + b1) · W2ᵀ + b2.
            linear(s.projected, rows: total, inputs: h, weight: layer.intermediateWeight.pointer, bias: layer.intermediateBias.pointer,
                   outputs: f, into: s.intermediate)
            geluInPlace(s.intermediate, count: total * f)
            linear(s.intermediate, rows: total, inputs: f, weight: layer.outputWeight.pointer, bias: layer.outputBias.pointer,
                   outputs: h, into: s.hidden)
            // hidden ← LayerNorm(ffn + attention output)
            layerNorm(s.hidden, residual: s.projected, gain: layer.outputNormGain.pointer, bias: layer.outputNormBias.pointer,
                      rows: total, width: h, epsilon: c.layerNormEpsilon)
        }

        // Mean pooling over each sentence's tokens, then L2 normalisation.
        return (0..<sequences.count).map { b in
            var v = [Float](repeating: 0, count: h)
            let n = lengths[b]
            for p in 0..<n {
                let row = s.hidden + (offsets[b] + p) * h
                for j in 0..<h { v[j] += row[j] }
            }
            var norm: Float = 0
            for j in 0..<h { v[j] /= Float(n); norm += v[j] * v[j] }
            let scale = 1 / max(norm.squareRoot(), 1e-12)
            for j in 0..<h { v[j] *= scale }
            return v
        }
    }

    /// context[rows of sentence b, head columns] = softmax(Q Kᵀ / √d) V, per sentence and head.
    private func attention(_ s: Scratch, offsets: [Int], lengths: [Int]) {
        let h = configuration.hiddenSize, d = configuration.headSize
        let ld = Int32(3 * h)
        let scale = 1 / Float(d).squareRoot()
        for (b, n) in lengths.enumerated() {
            let base = s.qkv + offsets[b] * 3 * h
            let out = s.context + offsets[b] * h
            for head in 0..<configuration.headCount {
                let q = base + head * d, k = base + h + head * d, v = base + 2 * h + head * d
                // scores[n, n] = scale · Q_h K_hᵀ
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d),
                            scale, q, ld, k, ld, 0, s.scores, Int32(n))
                softmaxRows(s.scores, rows: n, count: n, stride: n)
                // context_h[n, d] = scores · V_h
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(n),
                            1, s.scores, Int32(n), v, ld, 0, out + head * d, Int32(h))
            }
        }
    }
}
