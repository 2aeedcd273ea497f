import EngramBase

/// The weights of one transformer block. Matrices stay in the mapped file; norm vectors and
/// biases are copied out as floats.
struct BlockWeights: @unchecked Sendable {
    var attnNorm: [Float]
    /// Either separate q/k/v projections or one fused `attn_qkv` (rows Q | K | V).
    var wq: WeightMatrix?, wk: WeightMatrix?, wv: WeightMatrix?
    var wqkv: WeightMatrix?
    var bq: [Float]?, bk: [Float]?, bv: [Float]?, bqkv: [Float]?
    var wo: WeightMatrix
    var postAttnNorm: [Float]?
    var ffnNorm: [Float]
    /// Separate gate (llama) or nil when `up` holds gate | up fused (GLM).
    var gate: WeightMatrix?
    var up: WeightMatrix
    var down: WeightMatrix
    var postFfwNorm: [Float]?
}

/// Looks tensors up by name and checks their shapes.
struct WeightLoader {
    let file: GGUFFile

    func has(_ name: String) -> Bool { file.tensor(named: name) != nil }

    func matrix(_ name: String, cols: Int, rows: Int? = nil) throws -> WeightMatrix {
        guard let t = file.tensor(named: name) else { throw EngramError.invalidGGUF(file.path, "tensor \(name) is missing") }
        guard t.dims.count == 2, t.dims[0] == cols, rows == nil || t.dims[1] == rows! else {
            throw EngramError.invalidGGUF(file.path, "tensor \(name) has shape \(t.dims), expected [\(cols), \(rows.map(String.init) ?? "?")]")
        }
        // Tiles hold the same bytes as the rows: the file's pages need not stay resident as well.
        return WeightMatrix(type: t.type, rows: t.dims[1], cols: cols, data: file.data(of: t),
                            release: { file.releasePages($0, bytes: $1) })
    }

    func optionalMatrix(_ name: String, cols: Int, rows: Int? = nil) throws -> WeightMatrix? {
        has(name) ? try matrix(name, cols: cols, rows: rows) : nil
    }

    func vector(_ name: String, count: Int) throws -> [Float] {
        guard let t = file.tensor(named: name) else { throw EngramError.invalidGGUF(file.path, "tensor \(name) is missing") }
        guard t.elementCount == count else {
            throw EngramError.invalidGGUF(file.path, "tensor \(name) has \(t.elementCount) values, expected \(count)")
        }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dequantize(t.type, file.data(of: t), $0.baseAddress!, count: count) }
        return out
    }

    func optionalVector(_ name: String, count: Int) throws -> [Float]? {
        has(name) ? try vector(name, count: count) : nil
    }

    /// The q/k/v projections of block `i`, fused or separate, with optional biases.
    func attention(_ i: Int, _ c: GLMModelConfig, into b: inout BlockWeights) throws {
        let p = "blk.\(i)."
        let e = c.embeddingLength
        if has(p + "attn_qkv.weight") {
            let n = c.queryDimension + 2 * c.kvDimension
            b.wqkv = try matrix(p + "attn_qkv.weight", cols: e, rows: n)
            b.bqkv = try optionalVector(p + "attn_qkv.bias", count: n)
        } else {
            b.wq = try matrix(p + "attn_q.weight", cols: e, rows: c.queryDimension)
            b.wk = try matrix(p + "attn_k.weight", cols: e, rows: c.kvDimension)
            b.wv = try matrix(p + "attn_v.weight", cols: e, rows: c.kvDimension)
            b.bq = try optionalVector(p + "attn_q.bias", count: c.queryDimension)
            b.bk = try optionalVector(p + "attn_k.bias", count: c.kvDimension)
            b.bv = try optionalVector(p + "attn_v.bias", count: c.kvDimension)
        }
    }
}
