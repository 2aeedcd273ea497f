import Foundation

/// A heap block of floats owned by a class, so it can be shared read-only across threads.
final class FloatStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(_ values: [Float]) {
        count = values.count
        pointer = .allocate(capacity: max(count, 1))
        values.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: count) }
    }

    init(concatenating parts: [[Float]]) {
        count = parts.reduce(0) { $0 + $1.count }
        pointer = .allocate(capacity: max(count, 1))
        var offset = 0
        for part in parts {
            part.withUnsafeBufferPointer { (pointer + offset).initialize(from: $0.baseAddress!, count: part.count) }
            offset += part.count
        }
    }

    deinit { pointer.deallocate() }
}

/// One transformer layer's weights. Linear weights keep PyTorch's `[out, in]` row-major layout.
struct BertLayerWeights: Sendable {
    /// Query, key and value stacked: `[3·hidden, hidden]`, bias `[3·hidden]`.
    let qkvWeight: FloatStorage, qkvBias: FloatStorage
    /// `[hidden, hidden]`, `[hidden]`.
    let attentionOutWeight: FloatStorage, attentionOutBias: FloatStorage
    let attentionNormGain: FloatStorage, attentionNormBias: FloatStorage
    /// `[intermediate, hidden]`, `[intermediate]`.
    let intermediateWeight: FloatStorage, intermediateBias: FloatStorage
    /// `[hidden, intermediate]`, `[hidden]`.
    let outputWeight: FloatStorage, outputBias: FloatStorage
    let outputNormGain: FloatStorage, outputNormBias: FloatStorage
}

/// All weights of a BERT encoder, copied out of a safetensors file and shape-checked.
struct BertWeights: Sendable {
    /// `[vocab, hidden]`, `[maxPositions, hidden]`, `[typeVocab, hidden]`.
    let wordEmbeddings: FloatStorage, positionEmbeddings: FloatStorage, tokenTypeEmbeddings: FloatStorage
    let embeddingNormGain: FloatStorage, embeddingNormBias: FloatStorage
    let layers: [BertLayerWeights]

    init(file: SafeTensorsFile, configuration c: BertConfiguration) throws {
        // Checkpoints exported from `BertModel` have no prefix; from `BertFor…` they have "bert.".
        let prefix = file.tensors["embeddings.word_embeddings.weight"] == nil && file.tensors["bert.embeddings.word_embeddings.weight"] != nil
            ? "bert." : ""
        func load(_ name: String, _ shape: [Int]) throws -> [Float] {
            try file.floats(prefix + name, shape: shape)
        }
        func storage(_ name: String, _ shape: [Int]) throws -> FloatStorage {
            FloatStorage(try load(name, shape))
        }
        let h = c.hiddenSize, f = c.intermediateSize
        wordEmbeddings = try storage("embeddings.word_embeddings.weight", [c.vocabularySize, h])
        positionEmbeddings = try storage("embeddings.position_embeddings.weight", [c.maxPositions, h])
        tokenTypeEmbeddings = try storage("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, h])
        embeddingNormGain = try storage("embeddings.LayerNorm.weight", [h])
        embeddingNormBias = try storage("embeddings.LayerNorm.bias", [h])
        var layers: [BertLayerWeights] = []
        for i in 0..<c.layerCount {
            let p = "encoder.layer.\(i)."
            layers.append(BertLayerWeights(
                qkvWeight: FloatStorage(concatenating: [
                    try load(p + "attention.self.query.weight", [h, h]),
                    try load(p + "attention.self.key.weight", [h, h]),
                    try load(p + "attention.self.value.weight", [h, h]),
                ]),
                qkvBias: FloatStorage(concatenating: [
                    try load(p + "attention.self.query.bias", [h]),
                    try load(p + "attention.self.key.bias", [h]),
                    try load(p + "attention.self.value.bias", [h]),
                ]),
                attentionOutWeight: try storage(p + "attention.output.dense.weight", [h, h]),
                attentionOutBias: try storage(p + "attention.output.dense.bias", [h]),
                attentionNormGain: try storage(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBias: try storage(p + "attention.output.LayerNorm.bias", [h]),
                intermediateWeight: try storage(p + "intermediate.dense.weight", [f, h]),
                intermediateBias: try storage(p + "intermediate.dense.bias", [f]),
                outputWeight: try storage(p + "output.dense.weight", [h, f]),
                outputBias: try storage(p + "output.dense.bias", [h]),
                outputNormGain: try storage(p + "output.LayerNorm.weight", [h]),
                outputNormBias: try storage(p + "output.LayerNorm.bias", [h])))
        }
        self.layers = layers
    }
}
