import EngramBase
import EngramGLM
import Foundation
import Testing

struct GGUFReaderTests {
    static func tempFile(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "engram-glm-\(UUID().uuidString).gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("reads metadata and tensor infos of a tiny model")
    func readsTinyModel() throws {
        let f = try GGUFFile(path: try TestFiles.reference("tiny-llama-q4_k_m.gguf"))
        #expect(f.version == 3)
        #expect(f["general.architecture"]?.stringValue == "llama")
        #expect(f["llama.block_count"]?.intValue == 2)
        #expect(f["tokenizer.ggml.tokens"]?.arrayValue?.count == 2048)
        let t = try #require(f.tensor(named: "blk.0.attn_q.weight"))
        #expect(t.dims == [256, 256])
        #expect(f.dataOffset % f.alignment == 0)
        #expect(Set(f.tensors.map(\.type)).isSuperset(of: [.q4_K, .q6_K, .f32]))
    }

    @Test("refuses truncated and corrupt files with a clear error")
    func corruptFiles() throws {
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try TestFiles.reference("tiny-llama-q4_0.gguf"))))
        var variants: [(String, [UInt8], EngramError.Code, EngramError.Reason)] = []
        for cut in [0, 3, 10, 23, 100, 5000, 40000, good.count / 2, good.count - 1] {
            variants.append(("truncated at \(cut)", Array(good[..<cut]), .dataLoss, .invalidGGUF))
        }
        var badMagic = good; badMagic[0] = 0x58
        variants.append(("bad magic", badMagic, .dataLoss, .invalidGGUF))
        var badVersion = good; badVersion[4] = 99
        variants.append(("bad version", badVersion, .unimplemented, .unsupportedGGUF))
        var hugeTensorCount = good; for i in 8..<16 { hugeTensorCount[i] = 0xFF }
        variants.append(("huge tensor count", hugeTensorCount, .dataLoss, .invalidGGUF))
        var hugeKV = good; for i in 16..<23 { hugeKV[i] = 0x7F }
        variants.append(("huge metadata count", hugeKV, .dataLoss, .invalidGGUF))
        // The first key's length (bytes 24..<32) made enormous.
        var hugeString = good; for i in 24..<31 { hugeString[i] = 0x7F }
        variants.append(("huge string length", hugeString, .dataLoss, .invalidGGUF))
        for (name, bytes, code, reason) in variants {
            let path = try Self.tempFile(bytes)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let error = expectError(code, reason, "\(name)") { try GGUFFile(path: path) }
            #expect(error?.message.contains(path) == true, "\(name): the message names the file")
        }
        // Random byte corruption must never crash: it either loads or throws a format error.
        var rng = DequantizeTests.RNG(state: 5)
        for _ in 0..<30 {
            var b = good
            for _ in 0..<8 { b[rng.int(4096)] = UInt8(rng.int(256)) }
            let path = try Self.tempFile(b)
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                _ = try GLMModel(file: GGUFFile(path: path))
            } catch let error as EngramError {
                #expect(error.code == .dataLoss || error.code == .unimplemented, "\(error.code): \(error.message)")
            }
        }
    }

    @Test("a missing file is not found; a directory is not a model file")
    func missingFile() throws {
        expectError(.notFound, .glmModelNotFound) { try GGUFFile(path: "/nonexistent/model.gguf") }
        expectError(.failedPrecondition, .unreadableGGUF) { try GGUFFile(path: NSTemporaryDirectory()) }
    }
}
