import EngramBase
import EngramGLM
import Foundation
import Testing

/// A context's arguments: each bad one is a specific error, and the cache stays usable.
struct ContextTests {
    @Test("empty batches, unknown token ids and context overflow are refused; truncate takes any count")
    func contextArguments() throws {
        let model = try GLMModel(path: TestFiles.reference("tiny-llama-q8_0.gguf"))
        let ctx = try GLMContext(model: model, threads: 1, contextSize: 8)
        #expect(ctx.contextSize == 8)
        expectError(.invalidArgument, .emptyPrompt) { try ctx.evaluate([]) }
        for bad: Int32 in [-1, 2048, .max] {
            let error = expectError(.invalidArgument, .tokenOutsideVocabulary, "\(bad)") { try ctx.evaluate([5, bad]) }
            #expect(error?.message.contains("token id \(bad) is outside the vocabulary (0..<2048)") == true)
        }
        #expect(ctx.tokens.isEmpty)
        _ = try ctx.evaluate([1, 2, 3, 4, 5, 6])
        expectError(.invalidArgument, .contextOverflow) { try ctx.evaluate([7, 8, 9]) }
        #expect(ctx.tokens == [1, 2, 3, 4, 5, 6])
        ctx.truncate(to: 100)
        #expect(ctx.tokens.count == 6)
        ctx.truncate(to: 4)
        #expect(ctx.tokens == [1, 2, 3, 4])
        ctx.truncate(to: -3)
        #expect(ctx.tokens.isEmpty)
        #expect(try ctx.evaluate([1, 2, 3, 4, 5, 6, 7, 8]).count == model.vocabularySize)
        // A context size beyond the model's is cut to it.
        #expect(try GLMContext(model: model, threads: 1, contextSize: .max).contextSize == model.config.contextLength)
    }
}
