import ArgumentParser
import Engram
import EngramServer
import EngramEmbed
import Foundation

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new database directory.",
        discussion: "Writes engram.toml (settings, editable later except the dimension), kv/ (RocksDB) and index/.")

    @OptionGroup var options: DatabaseOptions

    @Option(name: .customLong("dim"), help: "Vector dimension (384 for the built-in text embedder).")
    var dimension = 384

    @Option(help: "Index kind: flat, ivf, hnsw or auto (flat while small, then IVF).")
    var index: String = "auto"

    @Option(name: .customLong("half-life"), help: "Default recency half-life (e.g. 90m, 12h, 30d).")
    var halfLife: String = "30d"

    @Option(name: .customLong("w-time"), help: "Default weight of recency.")
    var wTime: Double = 0

    @Option(name: .customLong("w-importance"), help: "Default weight of importance.")
    var wImportance: Double = 0

    @Flag(name: .customLong("no-sync"), help: "Do not fsync each write batch (faster; a crash may lose the last writes).")
    var noSync = false

    func run() throws {
        CLI.bootstrap
        guard let kind = IndexKind(rawValue: index) else { throw ValidationError("--index must be flat, ivf, hnsw or auto") }
        var settings = StoreSettings(dimension: dimension, index: kind)
        settings.scoring.halfLife = try Parse.duration(halfLife, field: "--half-life").seconds
        settings.scoring.wTime = wTime
        settings.scoring.wImportance = wImportance
        settings.sync = !noSync
        try settings.validate()
        let db = try EngramDatabase.create(at: options.location, settings: settings, logger: options.logger())
        try db.close()
        if options.json {
            try CLI.printJSON(Created(created: options.location.path, dimension: dimension, index: kind))
        } else {
            print("created Engram database \(options.location.path) (\(dimension) dimensions, index \(kind.rawValue))")
        }
    }
}

/// What `init --json` prints.
struct Created: Encodable {
    var created: String
    var dimension: Int
    var index: IndexKind
}

struct Add: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add or replace one memory.",
        discussion: """
        The vector comes from --vector / --vector-file, or else the text is embedded with the \
        built-in model (run Tools/setup-models.sh once). An existing id is replaced.
        """)

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "The memory's text (or use --text).")
    var textArgument: String?

    @Option(help: "The memory's text.")
    var text: String?

    @Option(help: "Id (default: a new random id).")
    var id: String?

    @Option(name: .customLong("ns"), help: "Namespace.")
    var namespace: String = MemoryStore.defaultNamespace

    @Option(name: .customLong("tag"), help: "A tag (repeatable).")
    var tags: [String] = []

    @Option(name: .customLong("meta"), help: ArgumentHelp("Metadata entry (repeatable).", valueName: "key=value"))
    var meta: [String] = []

    @Option(help: ArgumentHelp("Event time (ISO 8601 with zone, or epoch seconds; default now).", valueName: "time"))
    var time: String?

    @Option(name: .customLong("expires"), help: ArgumentHelp("Stop returning the memory after this time.", valueName: "time"))
    var expiresAt: String?

    @Option(name: .customLong("valid-to"), help: ArgumentHelp("End of the memory's validity.", valueName: "time"))
    var validTo: String?

    @Option(help: "Importance between 0 and 1.")
    var importance: Double = 0

    @OptionGroup var vectorOptions: VectorOptions

    func validate() throws {
        if textArgument != nil && text != nil { throw ValidationError("give the text as an argument or with --text, not both") }
    }

    func run() async throws {
        CLI.bootstrap
        let body = textArgument ?? text ?? ""
        let vector = try vectorOptions.given()
        if vector == nil && body.isEmpty { throw ValidationError("give the memory's text, or a vector with --vector / --vector-file") }
        let memory = MemoryInput(id: id, text: body.isEmpty ? nil : body, vector: vector, namespace: namespace,
                                 tags: tags, meta: try Parse.keyValues(meta, option: "--meta"),
                                 time: try time.map { try Parse.time($0, field: "--time") },
                                 expiresAt: try expiresAt.map { try Parse.time($0, field: "--expires") },
                                 validTo: try validTo.map { try Parse.time($0, field: "--valid-to") },
                                 importance: importance)
        let request = UpsertRequest(memories: [memory])
        let response = try await options.serve(.memoryUpsert, request, readOnly: false) { try await $0.upsert(request) }
        if options.json { try CLI.printJSON(["id": response.ids[0]]) } else { print(response.ids[0]) }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print one memory (the whole record).")

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "The memory's id.")
    var id: String

    @Flag(name: .customLong("no-vector"), help: "Leave the vector out of the JSON output.")
    var noVector = false

    func run() async throws {
        CLI.bootstrap
        let request = GetRequest(id: id, includeVector: !noVector)
        let m = try await options.serve(.memoryGet, request, readOnly: true) { try $0.get(request) }
        if options.json {
            try CLI.printJSON(m)
            return
        }
        print("id:         \(m.id)")
        print("namespace:  \(m.namespace)")
        print("text:       \(m.text)")
        print("tags:       \(m.tags.joined(separator: ", "))")
        print("meta:       \(JSONValue.object(m.meta))")
        print("time:       \(m.time)")
        print("created:    \(m.createdAt)")
        print("updated:    \(m.updatedAt)")
        if let e = m.expiresAt { print("expires:    \(e)") }
        if let v = m.validTo { print("valid to:   \(v)") }
        if let a = m.lastAccessedAt { print("accessed:   \(a)") }
        print("importance: \(m.importance)")
        for a in m.importanceHistory ?? [] {
            let note = a.note.map { " \"\($0)\"" } ?? ""
            print(String(format: "  %@  %.4g → %.4g  (%@ answer %@)%@", a.at.description, a.from, a.to, a.verdict.rawValue, a.answerId, note))
        }
        if let vector = m.vector {
            print("vector:     [\(vector.prefix(6).map { String(format: "%.4f", $0) }.joined(separator: ", "))\(vector.count > 6 ? ", …" : "")] (\(vector.count) dims)")
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete memories by id or by filter.",
        discussion: "Deleted memories are never returned again, even before the index is compacted.")

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "Ids to delete.")
    var ids: [String] = []

    @OptionGroup var filter: FilterOptions

    @Flag(name: .customLong("all"), help: "Confirm deleting every memory matching the filter (or every memory, with no filter).")
    var all = false

    @Flag(name: .customLong("ignore-missing"), help: "Do not fail on unknown ids.")
    var ignoreMissing = false

    func validate() throws {
        if !ids.isEmpty && !filter.isEmpty { throw ValidationError("give ids or filter options, not both") }
        if ids.isEmpty && !all { throw ValidationError("give ids to delete, or filter options with --all to delete what matches") }
    }

    func run() async throws {
        CLI.bootstrap
        let request = DeleteRequest(ids: ids.isEmpty ? nil : ids, filter: try filter.request(), all: all, ignoreMissing: ignoreMissing)
        let response = try await options.serve(.memoryDelete, request, readOnly: false) { try $0.delete(request) }
        let count = response.deleted
        if options.json { try CLI.printJSON(response) } else { print("deleted \(count) memor\(count == 1 ? "y" : "ies")") }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Counts, index state and disk use.")

    @OptionGroup var options: DatabaseOptions

    func run() async throws {
        CLI.bootstrap
        let s = try await options.serve(.memoryStats, [String: String](), readOnly: true) { try $0.stats() }
        if options.json {
            try CLI.printJSON(s)
            return
        }
        print("database:   \(options.location.path)")
        print("memories:   \(s.memories)\(s.labels > s.memories ? " (\(s.labels - s.memories) dead labels, freed for reuse by the next rebuild or compact)" : "")")
        for (ns, n) in s.namespaces.sorted(by: { $0.key < $1.key }) { print("  \(ns): \(n)") }
        print("dimension:  \(s.dimension)\(s.embedder.isEmpty ? "" : " (embedder \(s.embedder))")")
        let i = s.index
        print("index:      \(i.kind) (setting \(i.setting)), \(i.entries) entries\(i.ivfLists > 0 ? ", \(i.ivfLists) lists" : "")\(i.tombstones > 0 ? ", \(i.tombstones) tombstones" : "")")
        print(String(format: "full text:  %llu documents, %llu terms, %.1f MiB%@", s.text.documents, s.text.terms,
                     Double(s.text.bytes) / 1_048_576, s.text.pending > 0 ? ", \(s.text.pending) changes being merged" : ""))
        print("unsnapshotted changes: \(s.changesSinceSnapshot)")
        print(String(format: "disk:       %.1f MiB", Double(s.diskBytes) / 1_048_576))
        print("BLAS:       OpenBLAS core \(BLASCore.choice)")
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify that every live memory is searchable and nothing else is.",
        discussion: "Compares the live ids in RocksDB with the ids in the ANN index, and the full-text index with the analysed text of every live memory. Exits 1 on any difference.")

    @OptionGroup var options: DatabaseOptions

    func run() throws {
        CLI.bootstrap
        let db = try options.open(readOnly: true)
        let r = try db.check()
        if options.json {
            try CLI.printJSON(r)
        } else {
            print("live memories: \(r.liveInStore), searchable in index: \(r.searchableInIndex), tombstones: \(r.tombstones), text postings: \(r.textPostings)")
            if !r.missingFromIndex.isEmpty { print("missing from index (\(r.missingFromIndex.count)): \(r.missingFromIndex.prefix(20).joined(separator: ", "))") }
            if !r.unknownInIndex.isEmpty { print("unknown labels in index (\(r.unknownInIndex.count)): \(r.unknownInIndex.prefix(20).map(String.init).joined(separator: ", "))") }
            if !r.duplicatesInIndex.isEmpty { print("duplicate labels in index: \(r.duplicatesInIndex.count)") }
            if !r.inconsistentRecords.isEmpty { print("inconsistent records: \(r.inconsistentRecords.prefix(20).joined(separator: ", "))") }
            if !r.mismatchedCodes.isEmpty { print("index codes that differ from their vectors (\(r.mismatchedCodes.count)): \(r.mismatchedCodes.prefix(20).joined(separator: ", "))") }
            for problem in r.textProblems { print("full-text index: \(problem)") }
            print(r.ok ? "ok" : "FAILED: the indexes and the records differ (run `engram compact` to rebuild them)")
        }
        if !r.ok { throw ExitCode(1) }
    }
}

struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild the vector index without tombstones (retraining IVF) and snapshot it; rebuild the full-text index.")

    @OptionGroup var options: DatabaseOptions

    func run() async throws {
        CLI.bootstrap
        let r = try await options.serve(.adminCompact, [String: String](), readOnly: false) { try $0.compact() }
        if options.json {
            try CLI.printJSON(r)
        } else {
            print(String(format: "compacted: %d memories, index %@ %d → %d entries in %.2f s", r.memories,
                         r.index, r.entriesBefore, r.entriesAfter, r.seconds))
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write every memory as JSON Lines (the format `engram import` reads).")

    @OptionGroup var options: DatabaseOptions

    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
    var output: String?

    @Flag(name: .customLong("no-vector"), help: "Leave vectors out.")
    var noVector = false

    func run() throws {
        CLI.bootstrap
        let db = try options.open(readOnly: true)
        let handle: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil) else {
                throw CLIError("cannot create \(output)")
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        } else {
            handle = FileHandle.standardOutput
        }
        var buffer = Data()
        var count = 0
        let encoder = EngramJSON.encoder()
        try db.export(includeVectors: !noVector) { record in
            buffer.append(try encoder.encode(record))
            buffer.append(0x0A)
            count += 1
            if buffer.count > 1 << 20 { handle.write(buffer); buffer.removeAll(keepingCapacity: true) }
        }
        handle.write(buffer)
        if output != nil { try handle.close(); CLI.printErr("exported \(count) memories to \(output!)") }
    }
}

struct Embed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the embedding of a text as a JSON array (for debugging and scripts).")

    @Argument(help: "The text to embed.")
    var text: String

    @Option(help: "Model folder (default: $ENGRAM_EMBED_MODEL, else Data/models/all-MiniLM-L6-v2).")
    var model: String?

    func run() async throws {
        CLI.bootstrap
        let embedder = try MiniLMEmbedder(modelDirectory: EmbedderModelLocator.locate(explicit: model))
        let vector = try await embedder.embed([text])[0]
        try CLI.printJSON(vector)
    }
}
