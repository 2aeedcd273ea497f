import EngramBase
import EngramStore
import Foundation
import Testing

@Suite("Bad input gets a clear error and loses nothing")
struct BadInputTests {
    @Test func vectorsAndIds() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 3))
            try store.upsert([NewMemory(id: "keep", vector: [1, 2, 3])])
            #expect(throws: EngramError.wrongDimension(id: "x", expected: 3, got: 2)) {
                try store.upsert([NewMemory(id: "x", vector: [1, 2])])
            }
            #expect(throws: EngramError.nonFiniteVector(id: "x")) { try store.upsert([NewMemory(id: "x", vector: [1, .nan, 3])]) }
            #expect(throws: EngramError.nonFiniteVector(id: "x")) { try store.upsert([NewMemory(id: "x", vector: [1, .infinity, 3])]) }
            #expect(throws: EngramError.zeroVector(id: "x")) { try store.upsert([NewMemory(id: "x", vector: [0, 0, 0])]) }
            #expect(throws: EngramError.invalidArgument("memory id must not be empty")) {
                try store.upsert([NewMemory(id: "", vector: [1, 2, 3])])
            }
            #expect(throws: EngramError.invalidArgument("memory id is 513 bytes; the limit is 512 (max_id_bytes)")) {
                try store.upsert([NewMemory(id: String(repeating: "x", count: 513), vector: [1, 2, 3])])
            }
            #expect(throws: EngramError.invalidArgument("memory 'x': importance must be between 0 and 1")) {
                try store.upsert([NewMemory(id: "x", vector: [1, 2, 3], importance: 2)])
            }
            #expect(throws: EngramError.invalidArgument("memory 'x': namespace must be 1 to 256 bytes")) {
                try store.upsert([NewMemory(id: "x", namespace: "", vector: [1, 2, 3])])
            }
            // A batch with one bad entry is refused whole.
            #expect(throws: EngramError.wrongDimension(id: "bad", expected: 3, got: 2)) {
                try store.upsert([NewMemory(id: "ok", vector: [1, 0, 0]), NewMemory(id: "bad", vector: [1, 0])])
            }
            #expect(store.count() == 1)
            #expect(throws: EngramError.notFound(id: "ok")) { try store.get("ok") }
            #expect(throws: EngramError.notFound(id: "nope")) { try store.get("nope") }
            #expect(throws: EngramError.notFound(id: "nope")) { try store.delete(ids: ["nope", "keep"]) }
            #expect(try store.get("keep").id == "keep")
            #expect(try store.delete(ids: ["nope"], ignoreMissing: true) == 0)
            #expect(throws: EngramError.wrongDimension(id: "query", expected: 3, got: 4)) {
                try store.query(MemoryQuery(vector: [1, 2, 3, 4]))
            }
            #expect(throws: EngramError.invalidArgument("k must be between 1 and 10000")) {
                try store.query(MemoryQuery(vector: [1, 2, 3], k: 0))
            }
            #expect(throws: EngramError.invalidArgument("w_time must be a finite number ≥ 0")) {
                try store.query(MemoryQuery(vector: [1, 2, 3], scoring: ScoringOptions(wTime: -1)))
            }
            #expect(throws: EngramError.invalidArgument("half-life must be positive")) {
                try store.query(MemoryQuery(vector: [1, 2, 3], scoring: ScoringOptions(halfLife: 0)))
            }
            #expect(try store.check().ok)
        }
    }

    @Test func directories() throws {
        try withTempDirectory { dir in
            #expect(throws: EngramError.notADatabase(path: dir.path, reason: "no such directory")) { try MemoryStore.open(at: dir) }
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            #expect(throws: EngramError.notADatabase(path: dir.path, reason: "no engram.toml")) { try MemoryStore.open(at: dir) }
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 3))
            #expect(throws: EngramError.alreadyExists(path: dir.path)) { try MemoryStore.create(at: dir) }
            // A second writer is refused with a clear message; a reader is allowed.
            #expect(throws: EngramError.databaseInUse(path: dir.path)) { try MemoryStore.open(at: dir) }
            try store.upsert([NewMemory(id: "a", vector: [1, 0, 0])])
            let reader = try MemoryStore.open(at: dir, readOnly: true)
            #expect(try reader.get("a").id == "a")
            #expect(throws: EngramError.readOnly) { try reader.upsert([NewMemory(id: "b", vector: [1, 0, 0])]) }
            try reader.close()
            try store.close()
            // A corrupt settings file is reported with its line.
            try Data("[store]\ndimension = many\n".utf8).write(to: dir.appendingPathComponent("engram.toml"))
            let error = #expect(throws: EngramError.self) { try MemoryStore.open(at: dir) }
            #expect(error?.reason == .invalidSettings && error?.message.hasPrefix("engram.toml: line 2,") == true, "\(String(describing: error))")
        }
    }
}

@Suite("Settings sections")
struct SettingsSectionTests {
    @Test("a section no module reads is refused on open, naming it")
    func unknownSection() throws {
        try withTempDirectory { dir in
            try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 3)).close()
            let toml = dir.appendingPathComponent("engram.toml")
            let original = try String(contentsOf: toml, encoding: .utf8)
            try (original + "\n[scorng]\nw_time = 1\n").write(to: toml, atomically: false, encoding: .utf8)
            #expect(throws: EngramError(.invalidArgument, "engram.toml: unknown section [scorng] (known: [embedder], [scoring], [store], [text])", reason: .invalidSettings)) {
                try MemoryStore.open(at: dir)
            }
            // A section a registered module reads is accepted.
            try (original + "\n[graph]\ndepth = 2\n").write(to: toml, atomically: false, encoding: .utf8)
            try MemoryStore.open(at: dir, registration: .init(settingsSections: ["graph"])).close()
        }
    }
}
