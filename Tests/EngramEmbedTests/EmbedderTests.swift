import EngramBase
import EngramEmbed
import Foundation
import Testing

@Suite("MiniLM embedder")
struct EmbedderTests {
    @Test func matchesReferenceEmbeddings() async throws {
        let embedder = try Fixtures.embedder()
        let cases = try Fixtures.referenceCases()
        let vectors = try await embedder.embed(cases.map(\.text))
        #expect(vectors.count == cases.count)
        for (c, v) in zip(cases, vectors) {
            #expect(v.count == 384)
            let diff = maxAbsDifference(v, c.embedding)
            #expect(diff <= 1e-4, "max abs difference \(diff) for \(c.text.debugDescription)")
            #expect(cosine(v, c.embedding) >= 0.9999, "cosine for \(c.text.debugDescription)")
        }
        // One at a time: small passes split the work by columns instead of rows.
        for c in cases {
            let v = try await embedder.embed([c.text])[0]
            let diff = maxAbsDifference(v, c.embedding)
            #expect(diff <= 1e-4, "max abs difference \(diff) for \(c.text.debugDescription) alone")
        }
        // Single-threaded gives the same vectors.
        let single = try MiniLMEmbedder(modelDirectory: try Fixtures.requireModel(), threads: 1)
        for (c, v) in zip(cases, single.embedSynchronously(cases.map(\.text))) {
            #expect(maxAbsDifference(v, c.embedding) <= 1e-4, "\(c.text.debugDescription), 1 thread")
        }
    }

    @Test func describesItself() throws {
        let embedder = try Fixtures.embedder()
        #expect(embedder.dimension == 384)
        #expect(embedder.modelIdentifier == "all-MiniLM-L6-v2")
        #expect(embedder.configuration == .miniLML6)
        #expect(embedder.threads >= 1)
    }

    @Test func firstTwoSentencesAreTheNearestPair() async throws {
        let texts = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.", "A man is riding a horse."]
        let v = try await Fixtures.embedder().embed(texts)
        var best = (0, 0, -Float.infinity)
        for i in 0..<4 {
            for j in (i + 1)..<4 where cosine(v[i], v[j]) > best.2 { best = (i, j, cosine(v[i], v[j])) }
        }
        #expect(best.0 == 0 && best.1 == 1, "nearest pair \(best)")
        #expect(abs(cosine(v[0], v[1]) - 0.7553) < 1e-3)
    }

    @Test func outputIsUnitLengthAndIndependentOfBatching() async throws {
        let embedder = try Fixtures.embedder()
        let texts = [
            "short", "", "   ", "A considerably longer sentence that has many more tokens than the others in this batch, by design.",
            "Café naïve 自主学习 🙂 мир", "The quick brown fox jumps over the lazy dog.",
        ]
        let together = try await embedder.embed(texts)
        for (text, vector) in zip(texts, together) {
            let alone = try await embedder.embed([text])[0]
            #expect(maxAbsDifference(alone, vector) < 1e-5, "\(text.debugDescription) alone vs in a batch")
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
            #expect(vector.allSatisfy { $0.isFinite })
        }
        // Groups smaller than the input: same results.
        let small = try MiniLMEmbedder(modelDirectory: try Fixtures.requireModel(), maxBatch: 2)
        let grouped = try await small.embed(texts)
        for (a, b) in zip(grouped, together) { #expect(maxAbsDifference(a, b) < 1e-5) }
        #expect(try await embedder.embed([]).isEmpty)
    }

    @Test func longInputIsTruncatedNotRejected() async throws {
        let embedder = try Fixtures.embedder()
        let long = String(repeating: "memory databases remember what matters. ", count: 100)
        let cut = embedder.tokenizer.encode(long)
        #expect(cut.count == 256)
        let v = try await embedder.embed([long, long + " and much more text after the cut"])
        // Both are cut to the same 256 tokens, so they embed identically.
        #expect(maxAbsDifference(v[0], v[1]) < 1e-6)
        #expect(maxAbsDifference(v[0], try embedder.embed(tokenIDs: [cut])[0]) < 1e-6)
        // Over-long id sequences are cut the same way, keeping the final [SEP].
        let longIDs = embedder.tokenizer.encode(long + long)
        #expect(maxAbsDifference(try embedder.embed(tokenIDs: [Array(longIDs.dropLast()) + Array(repeating: 2773, count: 300) + [embedder.tokenizer.sepID]])[0], v[0]) < 1e-6)
    }

    @Test func tokenIDsOutsideTheVocabularyAreRejected() throws {
        let embedder = try Fixtures.embedder()
        let high = expectError(.invalidArgument, .embeddingTokenOutsideVocabulary) { try embedder.embed(tokenIDs: [[101, 30522, 102]]) }
        #expect(high?.message.contains("Token id 30522 is outside the vocabulary (0..<30522)") == true)
        let negative = expectError(.invalidArgument, .embeddingTokenOutsideVocabulary) { try embedder.embed(tokenIDs: [[101, 102], [-1]]) }
        #expect(negative?.message.contains("Token id -1") == true)
        #expect(try embedder.embed(tokenIDs: [[]])[0].count == 384)
    }

    /// Bit-identical only where the BLAS kernel sums every row in the same order: OpenBLAS's
    /// Zen kernels treat rows by their place in a block (measured: up to 1.5e-7 apart on a
    /// unit vector, ~10 float32 ulps), its SkylakeX kernels do not. 1e-6 is float32 rounding of
    /// a reordered 1,536-term sum, far below any real difference between two texts.
    @Test func duplicateTextsGiveTheSameVectors() async throws {
        let v = try await Fixtures.embedder().embed(Array(repeating: "the same sentence", count: 40))
        for (i, row) in v.enumerated() {
            let worst = zip(row, v[0]).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-6, "row \(i) differs from row 0 by \(worst)")
        }
    }

    @Test func concurrentCallsGiveTheSameVectors() async throws {
        let embedder = try Fixtures.embedder()
        let groups = (0..<4).map { g in (0..<6).map { "sentence \($0) of group \(g), about memories and time" } }
        let sequential = try await groups.asyncMap { try await embedder.embed($0) }
        let concurrent = try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { tasks in
            for (i, texts) in groups.enumerated() { tasks.addTask { (i, try await embedder.embed(texts)) } }
            var out = [[[Float]]](repeating: [], count: groups.count)
            for try await (i, vectors) in tasks { out[i] = vectors }
            return out
        }
        for (a, b) in zip(sequential, concurrent) {
            for (x, y) in zip(a, b) { #expect(maxAbsDifference(x, y) < 1e-6) }
        }
    }

    @Test func usableAsExistentialEmbedder() async throws {
        let embedder: any Embedder = try Fixtures.embedder()
        let v = try await embedder.embed(["hello"])
        #expect(v.count == 1 && v[0].count == embedder.dimension)
    }
}

@Suite("model loading errors")
struct ModelLoadingTests {
    @Test func missingFolderNamesSetupScript() throws {
        let absent = try temporaryDirectory().appendingPathComponent("nope")
        let error = expectError(.notFound, .embeddingModelNotFound) { try MiniLMEmbedder(modelDirectory: absent) }
        #expect(error?.message.contains("Tools/setup-models.sh") == true)
        #expect(error?.message.contains(absent.path) == true)
    }

    @Test func missingWeightsFileIsNamed() throws {
        let model = try Fixtures.requireModel()
        let folder = try temporaryDirectory()
        for name in ["config.json", "tokenizer.json", "sentence_bert_config.json"] {
            try FileManager.default.copyItem(at: model.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        let error = expectError(.notFound, .missingModelFile) { try MiniLMEmbedder(modelDirectory: folder) }
        #expect(error?.message == "Model file missing: \(folder.appendingPathComponent("model.safetensors").path); "
            + "run Tools/setup-models.sh to download the model files.")
    }

    @Test func weightsOfTheWrongShapeAreRejected() throws {
        let model = try Fixtures.requireModel()
        let folder = try temporaryDirectory()
        for name in ["tokenizer.json", "model.safetensors"] {
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: model.appendingPathComponent(name))
        }
        // A config claiming a wider model than the weights hold.
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: model.appendingPathComponent("config.json"))) as? [String: Any])
        config["hidden_size"] = 768
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        let error = expectError(.dataLoss, .shapeMismatch) { try MiniLMEmbedder(modelDirectory: folder) }
        #expect(error?.message.contains("'embeddings.word_embeddings.weight' has shape [30522, 384], expected [30522, 768]") == true)
    }
}

@Suite("configuration values")
struct ConfigurationValueTests {
    /// A model folder linking the real weights and tokenizer, with `change` applied to config.json.
    static func folder(_ change: (inout [String: Any]) -> Void) throws -> URL {
        let model = try Fixtures.requireModel()
        let folder = try temporaryDirectory()
        for name in ["tokenizer.json", "model.safetensors"] {
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: model.appendingPathComponent(name))
        }
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: model.appendingPathComponent("config.json"))) as? [String: Any])
        change(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        return folder
    }

    @Test("sizes must be exact positive integers; the LayerNorm epsilon finite and positive", arguments: [
        ("hidden_size", 384.5 as Double, "\"hidden_size\" is missing or not a positive integer"),
        ("vocab_size", 1e300, "\"vocab_size\" is missing or not a positive integer"),
        ("num_attention_heads", 4_294_967_296, "\"num_attention_heads\" is missing or not a positive integer"),
        ("layer_norm_eps", -1, "layer_norm_eps -1.0 is not a finite number > 0"),
        ("layer_norm_eps", 1e300, "layer_norm_eps inf is not a finite number > 0"),
    ])
    func badValues(key: String, value: Double, expected: String) throws {
        let folder = try Self.folder { $0[key] = value }
        defer { try? FileManager.default.removeItem(at: folder) }
        let error = expectError(.dataLoss, .invalidEmbeddingConfiguration, "\(key) = \(value)") { try MiniLMEmbedder(modelDirectory: folder) }
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
    }

    @Test("another kind of model is unimplemented, not damaged")
    func otherModel() throws {
        let folder = try Self.folder { $0["hidden_act"] = "relu" }
        defer { try? FileManager.default.removeItem(at: folder) }
        let error = expectError(.unimplemented, .unsupportedEmbeddingModel) { try MiniLMEmbedder(modelDirectory: folder) }
        #expect(error?.message.contains("hidden_act is relu, only gelu is supported") == true)
    }
}

@Suite("model locator")
struct LocatorTests {
    @Test func explicitPathWins() throws {
        let model = try Fixtures.requireModel()
        let url = try EmbedderModelLocator.locate(explicit: model.path, environment: ["ENGRAM_EMBED_MODEL": "/nonexistent"],
                                                  currentDirectory: "/", executablePath: nil)
        #expect(url.standardizedFileURL.path == model.standardizedFileURL.path)
    }

    @Test func environmentVariables() throws {
        let model = try Fixtures.requireModel()
        let viaModel = try EmbedderModelLocator.locate(explicit: nil, environment: ["ENGRAM_EMBED_MODEL": model.path],
                                                       currentDirectory: "/", executablePath: nil)
        #expect(viaModel.path == model.standardizedFileURL.path)
        let viaModels = try EmbedderModelLocator.locate(explicit: nil, environment: ["ENGRAM_MODELS": model.deletingLastPathComponent().path],
                                                        currentDirectory: "/", executablePath: nil)
        #expect(viaModels.path == model.standardizedFileURL.path)
    }

    @Test func searchesUpwardFromCurrentAndExecutableDirectories() throws {
        // A project tree with the model folder (only its weights file matters to the search).
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let modelFolder = root.appendingPathComponent(EmbedderModelLocator.relativeModelPath)
        try FileManager.default.createDirectory(at: modelFolder, withIntermediateDirectories: true)
        try Data([0]).write(to: modelFolder.appendingPathComponent("model.safetensors"))
        let subfolder = root.appendingPathComponent("Sources/EngramEmbed")
        try FileManager.default.createDirectory(at: subfolder, withIntermediateDirectories: true)

        let fromSubfolder = try EmbedderModelLocator.locate(explicit: nil, environment: [:],
                                                            currentDirectory: subfolder.path, executablePath: nil)
        #expect(fromSubfolder.path == modelFolder.standardizedFileURL.path)
        let fromExecutable = try EmbedderModelLocator.locate(explicit: nil, environment: [:], currentDirectory: "/",
                                                             executablePath: root.path + "/.build/release/engram")
        #expect(fromExecutable.path == modelFolder.standardizedFileURL.path)
    }

    @Test func notFoundNamesSetupScript() throws {
        let empty = try temporaryDirectory()
        for (explicit, environment) in [(empty.path, [String: String]()), (nil, ["ENGRAM_EMBED_MODEL": empty.path]), (nil, [:])] {
            let error = expectError(.notFound, .embeddingModelNotFound) {
                try EmbedderModelLocator.locate(explicit: explicit, environment: environment, currentDirectory: empty.path, executablePath: nil)
            }
            #expect(error?.message.contains("Tools/setup-models.sh") == true)
        }
    }
}
