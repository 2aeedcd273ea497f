import EngramBase

/// A loaded model: configuration and weights (kept in the memory-mapped GGUF file).
/// Immutable after loading and safe to share between threads and contexts.
public final class GLMModel: @unchecked Sendable {
    public let file: GGUFFile
    public let config: GLMModelConfig
    let tokenEmbedding: WeightMatrix
    let output: WeightMatrix
    let outputNorm: [Float]
    let blocks: [BlockWeights]
    /// `base^(−2i/n_rot)` for each rotated pair `i`.
    let ropeInverseFrequencies: [Double]

    public var vocabularySize: Int { output.rows }

    /// Opens and loads the GGUF file at `path`.
    /// - Throws: as `GGUFFile.init(path:)` and `init(file:)`.
    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    /// Loads the model in `file`: its hyper-parameters (`GLMModelConfig`), then every tensor,
    /// checking shapes and that the embedding, the output and the tokenizer agree on the
    /// vocabulary size.
    /// - Throws: `EngramError` `.dataLoss` (`invalidGGUF` for a missing or misshapen tensor,
    ///   `invalidHyperparameters` for inconsistent metadata), `.unimplemented` (`unsupportedGGUF`).
    public init(file: GGUFFile) throws {
        self.file = file
        let c = try GLMModelConfig(file: file)
        config = c
        let w = WeightLoader(file: file)
        tokenEmbedding = try w.matrix("token_embd.weight", cols: c.embeddingLength)
        output = try w.optionalMatrix("output.weight", cols: c.embeddingLength, rows: tokenEmbedding.rows) ?? tokenEmbedding
        let vocabulary = tokenEmbedding.rows
        guard vocabulary <= GLMModelConfig.maximumVocabularySize else {
            throw EngramError.invalidHyperparameters(file.path, "\(vocabulary) tokens exceed the limit of \(GLMModelConfig.maximumVocabularySize)")
        }
        if case .array(let tokens)? = file["tokenizer.ggml.tokens"], tokens.count != vocabulary {
            throw EngramError.invalidHyperparameters(file.path, "the tokenizer has \(tokens.count) tokens but token_embd.weight \(vocabulary) rows")
        }
        if let declared = file["\(c.architecture.rawValue).vocab_size"], declared.intValue != vocabulary {
            throw EngramError.invalidHyperparameters(file.path, "\(c.architecture.rawValue).vocab_size is \(declared) but token_embd.weight has \(vocabulary) rows")
        }
        outputNorm = try w.vector("output_norm.weight", count: c.embeddingLength)
        var blocks: [BlockWeights] = []
        for i in 0..<c.blockCount {
            switch c.architecture {
            case .llama: blocks.append(try Llama.loadBlock(i, c, w))
            case .glm4: blocks.append(try GLM4.loadBlock(i, c, w))
            case .chatglm: blocks.append(try ChatGLM.loadBlock(i, c, w))
            }
        }
        self.blocks = blocks
        ropeInverseFrequencies = (0..<c.ropeDimensions / 2).map {
            pow(c.ropeFreqBase, -2.0 * Double($0) / Double(c.ropeDimensions))
        }
    }

    func runBlock(_ layer: Int, _ s: inout ForwardState) {
        let b = blocks[layer]
        switch config.architecture {
        case .llama: Llama.block(b, layer: layer, &s)
        case .glm4: GLM4.block(b, layer: layer, &s)
        case .chatglm: ChatGLM.block(b, layer: layer, &s)
        }
    }
}

import Foundation
