import EngramBase
import EngramGLM
import Foundation
import Testing

/// Model files whose metadata was changed in place (same value width, so the layout stays
/// valid): loading must refuse each bad hyper-parameter with a clear error.
struct HyperparameterTests {
    /// A 4-byte GGUF metadata value: its type code and bytes.
    struct Value: Sendable, CustomStringConvertible {
        let type: UInt32
        let bits: UInt32
        static func int32(_ v: Int32) -> Value { Value(type: 5, bits: UInt32(bitPattern: v)) }
        static func uint32(_ v: UInt32) -> Value { Value(type: 4, bits: v) }
        static func float32(_ v: Float) -> Value { Value(type: 6, bits: v.bitPattern) }
        var description: String {
            switch type {
            case 5: return "int32 \(Int32(bitPattern: bits))"
            case 6: return "float32 \(Float(bitPattern: bits))"
            default: return "uint32 \(bits)"
            }
        }
    }

    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    /// The offset just after the GGUF string `text` (u64 length, then the bytes) in `bytes`.
    static func offset(after text: String, in bytes: [UInt8]) throws -> Int {
        let needle = littleEndian(UInt64(text.utf8.count)) + Array(text.utf8)
        let at = try #require(bytes.indices.first { i in
            i + needle.count <= bytes.count && bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle
        }, "\(text) not found")
        return at + needle.count
    }

    /// A copy of the reference model `file` with the 4-byte metadata value `key` replaced.
    static func withMetadata(_ file: String, _ key: String, _ value: Value) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestFiles.reference(file))))
        let at = try offset(after: key, in: bytes)
        let oldType = bytes[at..<at + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        try #require([4, 5, 6].contains(oldType), "\(key) is not a 4-byte value")
        bytes.replaceSubrange(at..<at + 8, with: littleEndian(value.type) + littleEndian(value.bits))
        return try write(bytes, file)
    }

    /// A copy of the reference model `file` with dimension `index` of tensor `name` replaced.
    static func withTensorDimension(_ file: String, _ name: String, _ index: Int, _ value: UInt64) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestFiles.reference(file))))
        let at = try offset(after: name, in: bytes) + 4 + 8 * index // after the dimension count
        bytes.replaceSubrange(at..<at + 8, with: littleEndian(value))
        return try write(bytes, file)
    }

    static func write(_ bytes: [UInt8], _ file: String) throws -> String {
        let path = NSTemporaryDirectory() + "engram-glm-\(UUID().uuidString)-\(file)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let cases: [(String, Value, String)] = [
        ("llama.rope.dimension_count", .int32(-2), "llama.rope.dimension_count is -2"),
        ("llama.rope.dimension_count", .uint32(0xFFFF_FFFE), "llama.rope.dimension_count is 4294967294"),
        ("llama.rope.dimension_count", .uint32(63), "is odd"),
        ("llama.rope.dimension_count", .uint32(128), "expected an integer in 1...64"),
        ("llama.rope.dimension_count", .float32(64), "llama.rope.dimension_count is 64.0"),
        ("llama.attention.head_count", .uint32(0), "llama.attention.head_count is 0"),
        ("llama.attention.head_count", .uint32(1 << 30), "llama.attention.head_count is 1073741824"),
        ("llama.attention.head_count", .uint32(512), "default 0 is outside"),
        ("llama.attention.head_count_kv", .uint32(3), "not a multiple of the KV head count 3"),
        ("llama.attention.head_count_kv", .int32(-2), "llama.attention.head_count_kv is -2"),
        ("llama.attention.head_count_kv", .uint32(8), "expected an integer in 1...4"),
        ("llama.embedding_length", .uint32(0), "llama.embedding_length is 0"),
        ("llama.feed_forward_length", .int32(-512), "llama.feed_forward_length is -512"),
        ("llama.block_count", .uint32(.max), "llama.block_count is 4294967295"),
        ("llama.context_length", .int32(-1), "llama.context_length is -1"),
        ("llama.context_length", .uint32(.max), "llama.context_length is 4294967295"),
        ("llama.attention.layer_norm_rms_epsilon", .float32(.nan), "layer_norm_rms_epsilon is nan"),
        ("llama.attention.layer_norm_rms_epsilon", .float32(-1), "layer_norm_rms_epsilon is -1.0"),
        ("llama.rope.freq_base", .float32(0), "llama.rope.freq_base is 0.0"),
        ("llama.rope.freq_base", .float32(.infinity), "llama.rope.freq_base is inf"),
    ]

    @Test("out-of-range or inconsistent hyper-parameters are a clear format error", arguments: cases)
    func badHyperparameter(_ key: String, _ value: Value, _ expected: String) throws {
        let path = try Self.withMetadata("tiny-llama-q4_0.gguf", key, value)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = expectError(.dataLoss, .invalidHyperparameters, "\(key) = \(value)") { try GLMModel(path: path) }
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(path) == true)
    }

    @Test("the vocabulary must agree between the embedding and the tokenizer")
    func vocabularyMismatch() throws {
        let path = try Self.withTensorDimension("tiny-llama-q4_0.gguf", "token_embd.weight", 1, 1024)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = expectError(.dataLoss, .invalidHyperparameters) { try GLMModel(path: path) }
        #expect(error?.message.contains("the tokenizer has 2048 tokens but token_embd.weight 1024 rows") == true, "\(error?.message ?? "")")
    }

    @Test("the reference models' hyper-parameters pass unchanged")
    func referenceModelsLoad() throws {
        let c = try GLMModelConfig(file: GGUFFile(path: TestFiles.reference("tiny-glm4-q8_0.gguf")))
        #expect(c.headDim == 64 && c.ropeDimensions == 32 && c.headCountKV == 2 && c.contextLength > 0)
    }
}
