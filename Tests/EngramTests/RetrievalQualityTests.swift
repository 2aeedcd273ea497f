import Engram
import EngramBase
import Foundation
import Testing

/// Retrieval quality on the labelled conversation in `Data/eval/` (made by
/// `Tools/make-eval-conversation.py`): 239 chat turns between two friends over eight sessions,
/// and 68 questions, each with the turns that answer it (exact rare words and numbers,
/// paraphrases, replies to a question). Real MiniLM embeddings (Tools/setup-models.sh).
///
/// recall@10: per question, the share of its answering turns among the top 10; averaged.
@Suite("Retrieval quality on a labelled conversation")
struct RetrievalQualityTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let eval = repoRoot.appendingPathComponent("Data/eval")

    struct Question: Decodable {
        var question: String
        var evidence: [String]
    }

    init() throws {
        let model = Self.repoRoot.appendingPathComponent("Data/models/all-MiniLM-L6-v2/model.safetensors")
        try #require(FileManager.default.fileExists(atPath: model.path), "missing \(model.path): run Tools/setup-models.sh")
    }

    /// recall@10 of each mode on a database made with `settings`.
    static func recall(settings: StoreSettings, fusion: FusionMethod? = nil) async throws -> [RetrievalMode: Double] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-quality-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try EngramDatabase.create(at: dir, settings: settings)
        _ = try await db.importJSONL(path: eval.appendingPathComponent("conversation.jsonl").path)
        let questions = try String(contentsOf: eval.appendingPathComponent("questions.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONDecoder().decode(Question.self, from: Data($0.utf8)) }
        var recall: [RetrievalMode: Double] = [:]
        for q in questions {
            let vector = try await db.embedQuery(q.question)
            for mode in RetrievalMode.allCases {
                let response = try await db.query(QueryRequest(text: q.question, vector: vector, k: 10, idsOnly: true, mode: mode,
                                                               fusion: FusionRequest(method: fusion)))
                let found = Set(response.results.map(\.id)).intersection(q.evidence).count
                recall[mode, default: 0] += Double(found) / Double(q.evidence.count) / Double(questions.count)
            }
        }
        try db.close()
        return recall
    }

    /// The settings the README gives for conversation memory.
    static var conversationSettings: StoreSettings {
        var settings = StoreSettings()
        settings.sync = false
        settings.text.contextWindow = 2
        settings.text.threadField = "session"
        settings.text.boostFields = ["speaker"]
        return settings
    }

    @Test("hybrid beats vector-only and text-only; context windows lift text retrieval")
    func hybridBeatsBoth() async throws {
        var defaults = StoreSettings()
        defaults.sync = false
        let plain = try await Self.recall(settings: defaults)
        let conversation = try await Self.recall(settings: Self.conversationSettings)
        for (name, r) in [("defaults", plain), ("conversation settings", conversation)] {
            print(String(format: "recall@10 (%@): vector %.3f, text %.3f, hybrid %.3f", name, r[.vector]!, r[.text]!, r[.hybrid]!))
        }
        // The other fusions, for Benchmarks/README.md (the default, minmax, is above).
        for method in [FusionMethod.zscore, .rrf] {
            for (name, settings) in [("defaults", defaults), ("conversation settings", Self.conversationSettings)] {
                let r = try await Self.recall(settings: settings, fusion: method)
                print(String(format: "recall@10 (%@, fusion %@): hybrid %.3f", name, method.rawValue, r[.hybrid]!))
            }
        }
        #expect(plain[.hybrid]! > plain[.vector]! && plain[.hybrid]! > plain[.text]!)
        // Windows index each turn with its neighbours: a reply is found through the question's words.
        #expect(conversation[.text]! > plain[.text]!)
        #expect(conversation[.hybrid]! > conversation[.vector]! && conversation[.hybrid]! > conversation[.text]!)
        // Vector mode ranks by each turn's own embedding: window embeddings enter hybrid only.
        #expect(conversation[.vector]! == plain[.vector]!)
    }
}
