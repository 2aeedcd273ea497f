/// `glm4` (GLM-4-0414):
///
///     h   = x + rmsnorm_post_attn(attn_output · attention(rope(q), rope(k), v))
///     out = h + rmsnorm_post_ffw(ffn_down · (silu(g) ⊙ u))     [g | u] = ffn_up · rmsnorm(h)
///
/// q/k/v separate or fused, with optional biases; RoPE NORM over half the head.
enum GLM4 {
    static func loadBlock(_ i: Int, _ c: GLMModelConfig, _ w: WeightLoader) throws -> BlockWeights {
        let p = "blk.\(i).", e = c.embeddingLength, ff = c.feedForwardLength
        var b = BlockWeights(
            attnNorm: try w.vector(p + "attn_norm.weight", count: e),
            wo: try w.matrix(p + "attn_output.weight", cols: c.queryDimension, rows: e),
            postAttnNorm: try w.vector(p + "post_attention_norm.weight", count: e),
            ffnNorm: try w.vector(p + "ffn_norm.weight", count: e),
            gate: nil,
            up: try w.matrix(p + "ffn_up.weight", cols: e, rows: 2 * ff),
            down: try w.matrix(p + "ffn_down.weight", cols: ff, rows: e),
            postFfwNorm: try w.vector(p + "post_ffw_norm.weight", count: e))
        try w.attention(i, c, into: &b)
        return b
    }

    static func block(_ b: BlockWeights, layer: Int, _ s: inout ForwardState) {
        s.normalize(s.x, b.attnNorm, into: s.a)
        s.attention(b, layer: layer)                 // o = attn_output · attention(a)
        s.normalize(s.o, b.postAttnNorm!, into: s.o) // o = rmsnorm(o) · post_attention_norm
        s.addResidual(s.o)
        s.normalize(s.x, b.ffnNorm, into: s.a)
        s.feedForward(b)                             // o = down(silu(g) ⊙ u)
        s.normalize(s.o, b.postFfwNorm!, into: s.o)  // o = rmsnorm(o) · post_ffw_norm
        s.addResidual(s.o)
    }
}
