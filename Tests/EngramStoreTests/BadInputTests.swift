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
            #expect(throws: StoreError.wrongDimension(id: "x", expected: 3, got: 2)) {
                try store.upsert([NewMemory(id: "x", vector: [1, 2])])
            }
            #expect(throws: StoreError.nonFiniteVector(id: "x")) { try store.upsert([NewMemory(id: "x", vector: [1, .nan, 3])]) }
            #expect(throws: StoreError.nonFiniteVector(id: "x")) { try store.upsert([NewMemory(id: "x", vector: [1, .infinity, 3])]) }
            #expect(throws: StoreError.zeroVector(id: "x")) { try store.upsert([NewMemory(id: "x", vector: [0, 0, 0])]) }
            #expect(throws: StoreError.self) { try store.upsert([NewMemory(id: "", vector: [1, 2, 3])]) }
            #expect(throws: StoreError.self) { try store.upsert([NewMemory(id: String(repeating: "x", count: 513), vector: [1, 2, 3])]) }
            #expect(throws: StoreError.self) { try store.upsert([NewMemory(id: "x", vector: [1, 2, 3], importance: 2)]) }
            #expect(throws: StoreError.self) { try store.upsert([NewMemory(id: "x", namespace: "", vector: [1, 2, 3])]) }
            // A batch with one bad entry is refused whole.
            #expect(throws: StoreError.self) {
                try store.upsert([NewMemory(id: "ok", vector: [1, 0, 0]), NewMemory(id: "bad", vector: [1, 0])])
            }
            #expect(store.count() == 1)
            #expect(throws: StoreError.self) { try store.get("ok") }
            #expect(throws: StoreError.notFound(id: "nope")) { try store.get("nope") }
            #expect(throws: StoreError.notFound(id: "nope")) { try store.delete(ids: ["nope", "keep"]) }
            #expect(try store.get("keep").id == "keep")
            #expect(try store.delete(ids: ["nope"], ignoreMissing: true) == 0)
            #expect(throws: StoreError.wrongDimension(id: "query", expected: 3, got: 4)) {
                try store.query(MemoryQuery(vector: [1, 2, 3, 4]))
            }
            #expect(throws: StoreError.self) { try store.query(MemoryQuery(vector: [1, 2, 3], k: 0)) }
            #expect(throws: StoreError.self) { try store.query(MemoryQuery(vector: [1, 2, 3], scoring: ScoringOptions(wTime: -1))) }
            #expect(throws: StoreError.self) { try store.query(MemoryQuery(vector: [1, 2, 3], scoring: ScoringOptions(halfLife: 0))) }
            #expect(try store.check().ok)
        }
    }

    @Test func directories() throws {
        try withTempDirectory { dir in
            #expect(throws: StoreError.notADatabase(path: dir.path, reason: "no such directory")) { try MemoryStore.open(at: dir) }
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            #expect(throws: StoreError.notADatabase(path: dir.path, reason: "no engram.toml")) { try MemoryStore.open(at: dir) }
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 3))
            #expect(throws: StoreError.alreadyExists(path: dir.path)) { try MemoryStore.create(at: dir) }
            // A second writer is refused with a clear message; a reader is allowed.
            #expect(throws: StoreError.databaseInUse(path: dir.path)) { try MemoryStore.open(at: dir) }
            try store.upsert([NewMemory(id: "a", vector: [1, 0, 0])])
            let reader = try MemoryStore.open(at: dir, readOnly: true)
            #expect(try reader.get("a").id == "a")
            #expect(throws: StoreError.readOnly) { try reader.upsert([NewMemory(id: "b", vector: [1, 0, 0])]) }
            try reader.close()
            try store.close()
            // A corrupt settings file is reported with its line.
            try Data("[store]\ndimension = many\n".utf8).write(to: dir.appendingPathComponent("engram.toml"))
            let error = #expect(throws: EngramError.self) { try MemoryStore.open(at: dir) }
            #expect(error?.reason == .invalidSettings && error?.message.hasPrefix("engram.toml: line 2,") == true, "\(String(describing: error))")
        }
    }
}
