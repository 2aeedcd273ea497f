/// `llama` (SmolLM2 and friends):
///
///     h   = x + attn_output · attention(rope(q), rope(k), v)     q,k,v = W·rmsnorm(x)
///     out = h + ffn_down · (silu(ffn_gate · n) ⊙ (ffn_up · n))    n = rmsnorm(h)
///
/// RoPE NORM style over `rope.dimension_count`; output = `output` or tied `token_embd`.
enum Llama {
    static func loadBlock(_ i: Int, _ c: GLMModelConfig, _ w: WeightLoader) throws -> BlockWeights {
        let p = "blk.\(i).", e = c.embeddingLength, ff = c.feedForwardLength
        var b = BlockWeights(
            attnNorm: try w.vector(p + "attn_norm.weight", count: e),
            wo: try w.matrix(p + "attn_output.weight", cols: c.queryDimension, rows: e),
            ffnNorm: try w.vector(p + "ffn_norm.weight", count: e),
            gate: try w.matrix(p + "ffn_gate.weight", cols: e, rows: ff),
            up: try w.matrix(p + "ffn_up.weight", cols: e, rows: ff),
            down: try w.matrix(p + "ffn_down.weight", cols: ff, rows: e))
        try w.attention(i, c, into: &b)
        return b
    }

    static func block(_ b: BlockWeights, layer: Int, _ s: inout ForwardState) {
        s.normalize(s.x, b.attnNorm, into: s.a)
        s.attention(b, layer: layer)                 // o = attn_output · attention(a)
        s.addResidual(s.o)                           // x += o
        s.normalize(s.x, b.ffnNorm, into: s.a)
        s.feedForward(b)                             // o = down(silu(gate·a) ⊙ up·a)
        s.addResidual(s.o)                           // x += o
    }
}
