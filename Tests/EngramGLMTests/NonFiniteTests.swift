import EngramBase
import EngramGLM
import Foundation
import Testing

/// Non-finite and tiny activations through the kernels, made by changing a norm vector of
/// the tiny reference models: `blk.0.attn_norm.weight` scales the input of the first
/// projections, so its values reach those matrices' dot-product kernels unchanged in kind.
struct NonFiniteTests {
    /// The tiny model files with their tensor types.
    static let files = ["tiny-llama-f32.gguf", "tiny-llama-f16.gguf", "tiny-llama-bf16.gguf", "tiny-llama-q4_0.gguf",
                        "tiny-llama-q4_1.gguf", "tiny-llama-q5_0.gguf", "tiny-llama-q5_1.gguf", "tiny-llama-q8_0.gguf",
                        "tiny-llama-q4_k_m.gguf", "tiny-llama-q5_k_m.gguf", "tiny-llama-q6_k.gguf", "tiny-glm4-q8_0.gguf",
                        "tiny-glm4-q4_k_m.gguf", "tiny-chatglm-q4_1.gguf"]
    /// The types with integer dot-product kernels (activations quantized to 8 bits).
    static let kernelTypes: Set<GGMLType> = [.q4_0, .q4_1, .q8_0, .q4_K, .q6_K]

    /// A copy of `file` in which `transform(i, value)` replaces each value of the F32 tensor `name`.
    static func patched(_ file: String, _ name: String, _ transform: (Int, Float) -> Float) throws -> String {
        let source = try TestFiles.reference(file)
        let info = try #require(try GGUFFile(path: source).tensor(named: name))
        try #require(info.type == .f32)
        let dataOffset = try GGUFFile(path: source).dataOffset
        var bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        bytes.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress! + dataOffset + info.offset
            for i in 0..<info.elementCount {
                let v = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                base.storeBytes(of: transform(i, v).bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
            }
        }
        let path = NSTemporaryDirectory() + "engram-glm-\(UUID().uuidString)-\(file)"
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The type of the first projection(s) that read the patched norm's output.
    static func firstProjectionType(_ file: String) throws -> GGMLType {
        let f = try GGUFFile(path: TestFiles.reference(file))
        return try #require(f.tensor(named: "blk.0.attn_q.weight") ?? f.tensor(named: "blk.0.attn_qkv.weight")).type
    }

    @Test("the files below feed the first projections through every integer dot-product kernel")
    func everyKernelIsCovered() throws {
        let covered = Set(try Self.files.map(Self.firstProjectionType))
        #expect(covered.isSuperset(of: Self.kernelTypes))
    }

    @Test("NaN or ±∞ in one activation block gives NaN logits through every kernel, never a trap",
          arguments: files, [Float.nan, .infinity, -.infinity])
    func nonFiniteActivations(_ file: String, _ bad: Float) throws {
        let path = try Self.patched(file, "blk.0.attn_norm.weight") { i, v in i == 5 ? bad : v }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try GLMModel(path: path)
        let ctx = try GLMContext(model: model, threads: 2)
        // One token: the matrix-vector kernels (quantized activations); then a batch: sgemm.
        let one = try ctx.evaluate([17])
        let batch = try ctx.evaluate([18, 19, 20], allLogits: true)
        #expect(one.count == model.vocabularySize && batch.count == 3 * model.vocabularySize)
        if try Self.kernelTypes.contains(Self.firstProjectionType(file)) {
            #expect(one.allSatisfy { $0.isNaN }, "NaN in, NaN out")
        }
        #expect(!one.contains { $0.isFinite })
        #expect(!batch.contains { $0.isFinite })
    }

    @Test("activations too small for an 8-bit scale quantize to zero: finite logits, never a trap", arguments: files)
    func subnormalActivations(_ file: String) throws {
        // ‖rmsnorm(x)‖ ≈ 1, so every activation of the first projections is about 1e-39:
        // max|x| / 127 is subnormal and its inverse would overflow to ∞.
        let path = try Self.patched(file, "blk.0.attn_norm.weight") { _, _ in Float(sign: .plus, exponent: -130, significand: 1.4) }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ctx = try GLMContext(model: GLMModel(path: path), threads: 2)
        #expect(try ctx.evaluate([17]).allSatisfy { $0.isFinite })
        #expect(try ctx.evaluate([18, 19, 20], allLogits: true).allSatisfy { $0.isFinite })
    }

    @Test("generating from a model whose logits are not finite is a clear error")
    func generatorRefusesNonFiniteLogits() throws {
        let path = try Self.patched("tiny-llama-q4_0.gguf", "output_norm.weight") { i, v in i == 0 ? .nan : v }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gen = try GLMGenerator(model: GLMModel(path: path), threads: 2)
        let error = expectError(.dataLoss, .nonFiniteLogits) {
            try gen.generateSync(.tokens([17, 18, 19]), options: GLMGenerationOptions(maxTokens: 4, sampling: .greedy))
        }
        #expect(error?.message.contains(path) == true)
    }
}
