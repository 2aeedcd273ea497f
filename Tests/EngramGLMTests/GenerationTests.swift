import EngramBase
import EngramGLM
import EngramTestSupport
import Foundation
import Testing

struct GenerationTests {
    static func generator() throws -> GLMGenerator { try GLMGenerator(model: SharedModels.smol()) }

    @Test("stop strings split across tokens are held back and never leak")
    func stopStringsSplit() {
        var m = StopStringMatcher(["</answer>", "STOP"])
        var out = ""
        var stopped = false
        for piece in ["Hello <", "/ans", "wer", "> more"] {
            let r = m.feed(piece)
            out += r.emit
            if r.stopped { stopped = true; break }
        }
        #expect(stopped)
        #expect(out == "Hello ")
        var m2 = StopStringMatcher(["STOP"])
        #expect(m2.feed("aST").emit == "a")
        #expect(m2.feed("x").emit == "STx")
        #expect(m2.feed("ST").emit == "")
        #expect(m2.flush() == "ST")
    }

    @Test("chat templates: ChatML (SmolLM2) renders the reference prompts; GLM families recognised")
    func chatTemplates() throws {
        let model = try SharedModels.smol()
        let t = GLMChatTemplate.forModel(model.file)
        #expect(t == .chatML(defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        let prompts = try TestFiles.json("smollm2_greedy.json") as! [[String: Any]]
        for p in prompts {
            var messages: [GLMChatMessage] = []
            if let s = p["system"] as? String { messages.append(.init(.system, s)) }
            messages.append(.init(.user, p["user"] as! String))
            #expect(GLMChatTemplate.chatML(defaultSystem: nil).render(messages) == p["prompt"] as! String)
        }
        #expect(t.render([.init(.user, "hi")]).hasPrefix("<|im_start|>system\nYou are a helpful AI assistant"))
        #expect(GLMChatTemplate.detect("[gMASK]<sop>{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{% endfor %}<|assistant|>") == .glm4)
        #expect(GLMChatTemplate.glm4.render([.init(.user, "hi")]) == "[gMASK]<sop><|user|>\nhi<|assistant|>\n")
        #expect(GLMChatTemplate.chatGLM3.render([.init(.user, "hi")]) == "[gMASK]sop<|user|>\n hi<|assistant|>")
    }

    @Test("sampling: greedy is argmax, a fixed seed reproduces, top-k 1 is greedy")
    func sampling() throws {
        var rng = DequantizeTests.RNG(state: 3)
        let logits = (0..<1000).map { _ in rng.float() * 10 }
        var g = try GLMSampler(.greedy)
        #expect(Int(try g.sample(logits, history: [])) == GLMSampler.argmax(logits))
        var p = GLMSamplingParameters()
        p.seed = 42
        p.temperature = 1.5
        p.minP = 0
        p.topP = 1
        p.topK = 0
        var a = try GLMSampler(p), b = try GLMSampler(p)
        let sa = try (0..<50).map { _ in try a.sample(logits, history: []) }
        let sb = try (0..<50).map { _ in try b.sample(logits, history: []) }
        #expect(sa == sb)
        #expect(Set(sa).count > 5)
        p.topK = 1
        var k = try GLMSampler(p)
        #expect(Int(try k.sample(logits, history: [])) == GLMSampler.argmax(logits))
        var pen = GLMSamplingParameters.greedy
        pen.repetitionPenalty = 1000
        var r = try GLMSampler(pen)
        #expect(Int(try r.sample(logits, history: [Int32(GLMSampler.argmax(logits))])) != GLMSampler.argmax(logits))
    }

    /// Parameter sets with one value out of range, and the name the error must give.
    static let badSampling: [(String, GLMSamplingParameters)] = {
        func with(_ change: (inout GLMSamplingParameters) -> Void) -> GLMSamplingParameters {
            var p = GLMSamplingParameters()
            change(&p)
            return p
        }
        return [
            ("minP", with { $0.minP = 2 }), ("minP", with { $0.minP = -0.1 }), ("minP", with { $0.minP = .nan }),
            ("topP", with { $0.topP = 0 }), ("topP", with { $0.topP = 1.5 }), ("topP", with { $0.topP = .nan }),
            ("temperature", with { $0.temperature = -1 }), ("temperature", with { $0.temperature = .infinity }),
            ("temperature", with { $0.temperature = .nan }), ("topK", with { $0.topK = -1 }),
            ("repetitionPenalty", with { $0.repetitionPenalty = 0 }), ("repetitionPenalty", with { $0.repetitionPenalty = .nan }),
            ("repetitionWindow", with { $0.repetitionWindow = -5 }),
        ]
    }()

    @Test("sampling parameters out of range are refused by the sampler and the generator, before any evaluation")
    func samplingParametersOutOfRange() throws {
        let gen = try Self.generator()
        for (name, p) in Self.badSampling {
            let error = expectError(.invalidArgument, .invalidSampling, "\(name)") { try GLMSampler(p) }
            #expect(error?.message.contains(name) == true, "\(error?.message ?? "")")
            expectError(.invalidArgument, .invalidSampling, "\(name)") {
                try gen.generateSync(.text("Hello", special: false), options: GLMGenerationOptions(maxTokens: 4, sampling: p))
            }
        }
        var edges = GLMSamplingParameters()
        edges.minP = 1
        edges.topP = 1
        edges.topK = 0
        edges.repetitionWindow = 0
        #expect(throws: Never.self) { try GLMSampler(edges) }
    }

    @Test("generate() in a cancelled task throws CANCELLED instead of returning a result")
    func cancelledGeneration() async throws {
        let gen = try Self.generator()
        let task = Task {
            while !Task.isCancelled { await Task.yield() }
            return try await gen.generate(.text("Once upon a time", special: false),
                                          options: GLMGenerationOptions(maxTokens: 8, sampling: .greedy))
        }
        task.cancel()
        let outcome = await task.result
        expectError(.cancelled, .generationCancelled) { try outcome.get() }
    }

    @Test("max tokens: outside 1...contextSize is refused (Int.max included); up to the context, generation stops when it is full")
    func maxTokensBounds() throws {
        let model = try SharedModels.smol()
        let gen = try GLMGenerator(model: model, contextSize: 24)
        #expect(gen.contextSize == 24)
        let prompt = GLMPrompt.text("The quick brown fox", special: false)
        for bad in [Int.max, Int.max - 3, 25, 0, -1, Int.min] {
            let error = expectError(.invalidArgument, .invalidMaxTokens, "\(bad)") {
                try gen.generateSync(prompt, options: GLMGenerationOptions(maxTokens: bad, sampling: .greedy))
            }
            #expect(error?.message.contains("maxTokens \(bad) is outside 1...24") == true)
        }
        let full = try gen.generateSync(prompt, options: GLMGenerationOptions(maxTokens: 24, sampling: .greedy))
        #expect(full.promptTokens.count + full.tokens.count <= 24)
        if full.finishReason == .length { #expect(full.promptTokens.count + full.tokens.count == 24) }
        // The default context is the model's, capped.
        #expect(try GLMGenerator(model: model).contextSize == min(model.config.contextLength, GLMGenerator.defaultContextLimit))
    }

    @Test("the sampler never indexes an empty candidate list: min-p 1, NaN logits, odd history, no logits")
    func samplerEdgeCases() throws {
        var p = GLMSamplingParameters()
        p.seed = 7
        p.minP = 1
        p.topK = 0
        p.topP = 1
        p.repetitionPenalty = 1.3
        var s = try GLMSampler(p)
        let logits: [Float] = [0.5, 3, -1, 3 - 1e-6]
        // min-p 1 keeps only the best token.
        #expect(try s.sample(logits, history: [-4, 99, 2]) == 1)
        // All-NaN logits (a damaged model) still give an index into the vocabulary.
        for minP: Float in [0, 0.05, 1] {
            p.minP = minP
            var n = try GLMSampler(p)
            let token = try n.sample([Float](repeating: .nan, count: 8), history: [])
            #expect((0..<8).contains(token))
        }
        expectError(.invalidArgument, .invalidSampling) { try s.sample([], history: []) }
    }

    @Test("greedy generation through the streaming API equals the reference continuation")
    func streamingGreedy() async throws {
        let gen = try Self.generator()
        let p = (try TestFiles.json("smollm2_greedy.json") as! [[String: Any]])[0]
        var options = GLMGenerationOptions(maxTokens: 48, sampling: .greedy)
        options.stopStrings = []
        var pieces = ""
        var result: GLMGenerationResult?
        for try await event in gen.stream(.text(p["prompt"] as! String, special: true), options: options) {
            switch event {
            case .piece(let piece): pieces += piece.text
            case .finished(let r): result = r
            }
        }
        let r = try #require(result)
        let promptIDs = p["prompt_ids"] as! [Int]
        #expect(r.promptTokens == promptIDs.map(Int32.init))
        #expect(pieces == r.text)
        #expect(r.usage.completionTokens == r.tokens.count)
        // The first generated position of this prompt is a near tie in the reference (the
        // portable kernels with one or two threads take the other token there).
        let top10 = (p["top10_per_position"] as! [[[Double]]]).map { $0.map { (Int($0[0]), Float($0[1])) } }
        switch GreedyReference.compare(r.tokens.map(Int.init), reference: p["greedy_ids"] as! [Int], promptCount: promptIDs.count,
                                       top10: top10) {
        case .same:
            #expect(r.text == p["greedy_text"] as! String)
            #expect(r.finishReason == .stop)
        case let .partsAtNearTie(at, gap): print("streaming greedy output parts from the reference at generated token \(at) (reference top-2 gap \(gap))")
        case let .differs(why): Issue.record(Comment(rawValue: why))
        }
    }

    @Test("KV prefix reuse gives the same output as a cold run and evaluates only the new part")
    func prefixReuse() throws {
        let model = try SharedModels.smol()
        let warm = try GLMGenerator(model: model)
        let options = GLMGenerationOptions(maxTokens: 12, sampling: .greedy)
        let first = [GLMChatMessage(.system, "Answer briefly."), .init(.user, "Name a colour.")]
        let r1 = try warm.generateSync(.chat(first), options: options)
        let second = first + [.init(.assistant, r1.text), .init(.user, "Name another one.")]
        let r2 = try warm.generateSync(.chat(second), options: options)
        #expect(r2.usage.cachedPromptTokens > r1.promptTokens.count / 2)
        let cold = try GLMGenerator(model: model).generateSync(.chat(second), options: options)
        #expect(cold.usage.cachedPromptTokens == 0)
        #expect(r2.tokens == cold.tokens)
        #expect(r2.text == cold.text)
        // The same prompt again reuses all but the last token.
        let r3 = try warm.generateSync(.chat(second), options: options)
        #expect(r3.usage.cachedPromptTokens == r3.promptTokens.count - 1)
        #expect(r3.tokens == cold.tokens)
    }

    @Test("stop strings, max tokens and cancellation end generation")
    func stopping() async throws {
        let gen = try Self.generator()
        let prompt = GLMPrompt.chat([.init(.user, "Count from 1 to 20 separated by commas.")])
        let base = try gen.generateSync(prompt, options: GLMGenerationOptions(maxTokens: 40, sampling: .greedy))
        #expect(base.tokens.count <= 40)
        let limited = try gen.generateSync(prompt, options: GLMGenerationOptions(maxTokens: 3, sampling: .greedy))
        #expect(limited.tokens.count == 3)
        #expect(limited.finishReason == .length)
        // Stop at a string that occurs in the greedy output.
        if base.text.count > 6 {
            let stop = String(base.text.dropFirst(3).prefix(3))
            let s = try gen.generateSync(prompt, options: GLMGenerationOptions(maxTokens: 40, sampling: .greedy, stopStrings: [stop]))
            #expect(!s.text.contains(stop))
            #expect(s.finishReason == .stop)
            #expect(base.text.hasPrefix(s.text))
        }
        var cancelled = 0
        let r = try gen.generateSync(prompt, options: GLMGenerationOptions(maxTokens: 40, sampling: .greedy),
                                     isCancelled: { cancelled += 1; return cancelled > 2 })
        #expect(r.finishReason == .cancelled)
        #expect(r.tokens.count == 2)
        // Dropping the stream early cancels the producing task.
        var seen = 0
        for try await event in gen.stream(prompt, options: GLMGenerationOptions(maxTokens: 40, sampling: .greedy)) {
            if case .piece = event { seen += 1 }
            if seen == 2 { break }
        }
        #expect(seen == 2)
    }
}
