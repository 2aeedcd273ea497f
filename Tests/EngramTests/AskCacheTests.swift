import Engram
import EngramGLM
import Foundation
import Testing

/// The answer cache of `ask`, with the real MiniLM embedder and SmolLM2 (Tools/setup-models.sh).
@Suite("Answer cache of ask")
struct AskCacheTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = repoRoot.appendingPathComponent("Data/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").path

    init() throws {
        try #require(FileManager.default.fileExists(atPath: Self.model), "missing \(Self.model): run Tools/setup-models.sh")
    }

    static func entries(_ db: EngramDatabase) throws -> Int {
        var n = 0
        try db.store.scan("ask_cache", prefix: []) { _, _ in n += 1; return true }
        return n
    }

    @Test("with nothing cached, the cache's change-log consumer keeps up without holding the log")
    func consumerKeepsUp() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-ask-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var settings = StoreSettings()
        settings.sync = false
        settings.dimension = 3
        let db = try EngramDatabase.create(at: dir, settings: settings)
        _ = try await db.upsert(UpsertRequest(memories: (0..<5).map { MemoryInput(id: "m\($0)", vector: [1, Float($0), 0]) }))
        #expect(try db.store.consumerState("ask-cache").watermark < db.store.lastChange)
        try db.close()
        let reader = try EngramDatabase.open(at: dir, readOnly: true)
        #expect(try reader.store.consumerState("ask-cache").watermark == reader.store.lastChange)
        try reader.close()
    }

    @Test("the same prompt is answered from the cache; a changed memory, a new passage, or no-cache generate anew")
    func cache() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-ask-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var settings = StoreSettings()
        settings.sync = false
        var db: EngramDatabase? = try EngramDatabase.create(at: dir, settings: settings)
        let generator = GLMTextGenerator(try GLMGenerator(model: GLMModel(path: Self.model), threads: 2, contextSize: 2048))
        let templates = try PromptTemplates(directory: Self.repoRoot.appendingPathComponent("Data/prompts"))
        let now = Timestamp(1_785_542_400)  // 2026-08-01
        func add(_ id: String, _ text: String) async throws {
            _ = try await db!.upsert(UpsertRequest(memories: [MemoryInput(id: id, text: text, time: Timestamp(1_780_000_000))]))
        }
        try await add("office", "Our office is at Torstrasse 5 in Berlin.")
        try await add("cat", "Miso the cat likes to sleep on the printer.")
        var request = AskRequest(question: "Where is the office?", k: 5, passages: 2, now: now)
        request.temperature = 0
        request.maxTokens = 24

        let first = try await db!.ask(request, generator: generator, templates: templates)
        #expect(!first.cached && first.usage.completionTokens > 0)
        let stored = try Self.entries(db!)
        #expect(stored == 1)
        let again = try await db!.ask(request, generator: generator, templates: templates)
        #expect(again.cached && again.answerId == first.answerId && again.answer == first.answer)
        #expect(again.usage == first.usage && again.timings.decodeMs == 0)

        // --no-cache: generated anew, nothing stored.
        var fresh = request
        fresh.cache = false
        let uncached = try await db!.ask(fresh, generator: generator, templates: templates)
        let afterUncached = try Self.entries(db!)
        #expect(!uncached.cached && uncached.answerId != first.answerId && afterUncached == 1)

        // A memory the answer used changes: another prompt, and the old entry is collected.
        try await add("office", "Our office moved to Karl-Liebknecht-Strasse 12 in Leipzig.")
        let changed = try await db!.ask(request, generator: generator, templates: templates)
        let afterChange = try Self.entries(db!)
        #expect(!changed.cached && changed.retrieved.first?.id == "office")
        #expect(afterChange == 1)

        // A new memory that becomes a passage: another prompt.
        try await add("office-phone", "The office phone number is 0341 555 0199.")
        let widened = try await db!.ask(request, generator: generator, templates: templates)
        #expect(!widened.cached && widened.citations.count + widened.uncited.count == 2)
        #expect(Set((widened.citations + widened.uncited).map(\.id)).contains("office-phone"))

        // The cache survives a reopen; a read-only open reuses it.
        try db!.close()
        db = nil
        let reader = try EngramDatabase.open(at: dir, readOnly: true)
        let reread = try await reader.ask(request, generator: generator, templates: templates)
        #expect(reread.cached && reread.answerId == widened.answerId)
        try reader.close()
    }
}
