/// `chatglm` (ChatGLM2/3, older GLM-4 conversions): llama's residual structure with a fused
/// `attn_qkv` (rows Q | K | V, optional bias) and fused gate | up in `ffn_up`; RoPE NORM
/// over half the head; a separate `output` matrix.
enum ChatGLM {
    static func loadBlock(_ i: Int, _ c: GLMModelConfig, _ w: WeightLoader) throws -> BlockWeights {
        let p = "blk.\(i).", e = c.embeddingLength, ff = c.feedForwardLength
        var b = BlockWeights(
            attnNorm: try w.vector(p + "attn_norm.weight", count: e),
            wo: try w.matrix(p + "attn_output.weight", cols: c.queryDimension, rows: e),
            ffnNorm: try w.vector(p + "ffn_norm.weight", count: e),
            gate: nil,
            up: try w.matrix(p + "ffn_up.weight", cols: e, rows: 2 * ff),
            down: try w.matrix(p + "ffn_down.weight", cols: ff, rows: e))
        try w.attention(i, c, into: &b)
        return b
    }

    static func block(_ b: BlockWeights, layer: Int, _ s: inout ForwardState) {
        s.normalize(s.x, b.attnNorm, into: s.a)
        s.attention(b, layer: layer)
        s.addResidual(s.o)
        s.normalize(s.x, b.ffnNorm, into: s.a)
        s.feedForward(b)
        s.addResidual(s.o)
    }
}
