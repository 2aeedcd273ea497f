import EngramTestSupport
import Foundation
import Testing

/// `engram generate`, `tokenize` and `model info` as whole command lines, on the real
/// SmolLM2 file (Tools/setup-models.sh) against llama.cpp's outputs in ../shared/reference.
@Suite("engram generate, tokenize and model info")
struct GLMCommandTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// `$ENGRAM_MODELS` when set (as for the model locator), else this repository's `Data/models`.
    static let models: URL = {
        if let dir = ProcessInfo.processInfo.environment["ENGRAM_MODELS"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        return repoRoot.appendingPathComponent("Data/models")
    }()
    static let model = models.appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let reference = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/reference/glm")

    init() throws {
        try #require(FileManager.default.fileExists(atPath: Self.model), "missing \(Self.model): run Tools/setup-models.sh")
    }

    func referenceJSON(_ name: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: Self.reference.appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    @Test("generate --chat --json reproduces llama.cpp's prompt and greedy continuation")
    func greedyGeneration() throws {
        let case3 = try referenceJSON("smollm2_greedy.json")[2]
        let system = try #require(case3["system"] as? String), user = try #require(case3["user"] as? String)
        let r = try CLI.run(["generate", "--model", Self.model, "--chat", "--system", system, user,
                             "--temperature", "0", "--max-tokens", "48", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let promptTokens = (r.json["promptTokens"] as? [Int]) ?? []
        let tokens = (r.json["tokens"] as? [Int]) ?? []
        let top10 = try #require(case3["top10_per_position"] as? [[[Double]]]).map { $0.map { (Int($0[0]), Float($0[1])) } }
        let referencePrompt = try #require(case3["prompt_ids"] as? [Int])
        #expect(promptTokens == referencePrompt)
        switch GreedyReference.compare(tokens, reference: try #require(case3["greedy_ids"] as? [Int]), promptCount: referencePrompt.count,
                                       top10: top10) {
        case .same: #expect(r.json["text"] as? String == case3["greedy_text"] as? String)
        case let .partsAtNearTie(at, gap): print("generate parts from the reference at generated token \(at) (reference top-2 gap \(gap))")
        case let .differs(why): Issue.record(Comment(rawValue: why))
        }
    }

    @Test("tokenize prints llama.cpp's ids")
    func tokenize() throws {
        for entry in try referenceJSON("smollm2_tokenize.json").prefix(6) {
            let text = try #require(entry["text"] as? String)
            let r = try CLI.run(["tokenize", "--model", Self.model, text])
            let ids = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [Int]
            #expect(ids == entry["ids"] as? [Int], "\(text)")
        }
    }

    @Test("sampling and thread options out of range are usage errors, never a crash", arguments: [
        ("--min-p=2", "--min-p"), ("--min-p=-1", "--min-p"), ("--top-p=0", "--top-p"), ("--top-p=1.5", "--top-p"),
        ("--temperature=-1", "--temperature"), ("--temperature=nan", "--temperature"), ("--top-k=-3", "--top-k"),
        ("--repeat-penalty=0", "--repeat-penalty"), ("--max-tokens=0", "--max-tokens"),
        ("--threads=0", "--threads"), ("--threads=100000", "--threads"),
    ])
    func samplingOptionsOutOfRange(option: String, name: String) throws {
        let r = try CLI.run(["generate", "--model", Self.model, "hello", option])
        #expect(r.status == 64, "\(r.stderr)") // EX_USAGE: rejected by validate()
        #expect(r.stderr.hasPrefix("Error: \(name) must"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test("--max-tokens beyond the context (up to Int.max) is a clear error, never an overflow")
    func maxTokensBeyondContext() throws {
        for n in ["9223372036854775807", "4097"] {
            let r = try CLI.run(["generate", "--model", Self.model, "hello", "--max-tokens", n])
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr == "Error: --max-tokens \(n) is larger than the context of 4096 tokens, which the prompt shares\n")
        }
    }

    @Test("a model file with a negative RoPE dimension count is a clear error, not a crash")
    func negativeRopeDimensions() throws {
        // The tiny reference model with llama.rope.dimension_count (a uint32) rewritten as int32 -2.
        var bytes = [UInt8](try Data(contentsOf: Self.reference.appendingPathComponent("tiny-llama-q4_0.gguf")))
        let key = Array("llama.rope.dimension_count".utf8)
        let needle = withUnsafeBytes(of: UInt64(key.count).littleEndian) { Array($0) } + key
        let at = try #require(bytes.indices.first { bytes[$0...].starts(with: needle) }) + needle.count
        bytes.replaceSubrange(at..<at + 8, with: [5, 0, 0, 0] + withUnsafeBytes(of: Int32(-2).littleEndian) { Array($0) })
        let path = NSTemporaryDirectory() + "engram-cli-\(UUID().uuidString).gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let generate = try CLI.run(["generate", "--model", path, "hello"])
        #expect(generate.status == 1)
        #expect(generate.stderr.hasPrefix("Error: invalid model hyper-parameters in \(path): llama.rope.dimension_count is -2, "
            + "expected an integer in 1...64."), "\(generate.stderr)")
        let info = try CLI.run(["model", "info", path])
        #expect(info.status == 0)
        #expect(info.stdout.contains("model: cannot be run: invalid model hyper-parameters"), "\(info.stdout)")
    }

    @Test("model info describes the file; a missing model is a clear error")
    func modelInfo() throws {
        let info = try CLI.run(["model", "info", Self.model])
        #expect(info.status == 0 && info.stdout.contains("general.architecture = \"llama\""))
        let missing = try CLI.run(["generate", "--model", "/nonexistent/model.gguf", "hi"])
        #expect(missing.status == 1 && missing.stderr.hasPrefix("Error: model file /nonexistent/model.gguf does not exist"))
    }
}
