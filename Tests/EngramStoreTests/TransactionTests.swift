import EngramBase
import EngramStore
import Foundation
import Testing

@Suite("Transactions and change-log consumers")
struct TransactionTests {
    static let registration = MemoryStore.Registration(columnFamilies: ["graph", "offsets"], consumers: ["graph"])

    @Test("a transaction writes memories and several column families together")
    func multiFamilyCommit() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 3), registration: Self.registration)
            let ids = try store.write { tx in
                let ids = try tx.upsert([NewMemory(id: "m1", vector: [1, 0, 0])])
                try tx.put("graph", key: Array("edge:1".utf8), value: [1])
                try tx.put("offsets", key: Array("log.jsonl".utf8), value: [42])
                #expect(try tx.memory("m1")?.vector == [1, 0, 0])
                return ids
            }
            #expect(ids == ["m1"])
            try store.close()
            let reopened = try MemoryStore.open(at: dir, registration: Self.registration)
            #expect(try reopened.get("m1").id == "m1")
            let stored = try reopened.write { tx in
                (try tx.get("graph", key: Array("edge:1".utf8)), try tx.get("offsets", key: Array("log.jsonl".utf8)))
            }
            #expect(stored.0 == [1] && stored.1 == [42])
        }
    }

    @Test("a transaction whose body throws writes nothing")
    func abandoned() throws {
        struct Stop: Error {}
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 3), registration: Self.registration)
            #expect(throws: Stop.self) {
                try store.write { tx in
                    try tx.upsert([NewMemory(id: "m1", vector: [1, 0, 0])])
                    try tx.put("graph", key: [1], value: [1])
                    throw Stop()
                }
            }
            #expect(store.count() == 0)
            #expect(store.lastChange == 0)
            #expect(try store.write { try $0.get("graph", key: [1]) } == nil)
            // A bad memory abandons the transaction too, with its specific error.
            #expect(throws: EngramError.wrongDimension(id: "bad", expected: 3, got: 2)) {
                try store.write { tx in
                    try tx.put("graph", key: [2], value: [2])
                    try tx.upsert([NewMemory(id: "bad", vector: [1, 0])])
                }
            }
            #expect(try store.write { try $0.get("graph", key: [2]) } == nil)
        }
    }

    @Test("a memory prepared outside the writer lock is written as its plain upsert is; another store's is prepared again")
    func preparedMemories() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir.appendingPathComponent("a"), settings: testSettings(.flat, dimension: 3))
            let other = try MemoryStore.create(at: dir.appendingPathComponent("b"), settings: testSettings(.flat, dimension: 3))
            let input = NewMemory(id: "p", text: "The PUMP-7 valve leaks", vector: [3, 0, 4], tags: ["b", "a", "b"], time: baseNow)
            let prepared = try store.prepareForWrite([input])
            #expect(prepared.map(\.memory.tags) == [["a", "b"]])
            try store.write { tx in try tx.upsert(prepared) }
            var plain = input
            plain.id = "q"
            try store.upsert([plain])
            let (p, q) = (try store.get("p"), try store.get("q"))
            #expect(p.vector == q.vector && p.tags == q.tags && p.text == q.text && p.time == q.time)
            // The analysed terms went into the full-text index as the plain upsert's did.
            let found = try store.query(MemoryQuery(vector: [], k: 3, now: baseNow, text: "valve leak", mode: .text))
            #expect(Set(found.results.map(\.id)) == ["p", "q"])
            #expect(found.results[0].score == found.results[1].score)
            try other.write { tx in try tx.upsert(prepared) }
            #expect(try other.query(MemoryQuery(vector: [], k: 3, now: baseNow, text: "valve", mode: .text)).results.map(\.id) == ["p"])
            // Prepared again, so a store of another dimension refuses it as it would the input.
            let wider = try MemoryStore.create(at: dir.appendingPathComponent("c"), settings: testSettings(.flat, dimension: 4))
            #expect(throws: EngramError.wrongDimension(id: "p", expected: 4, got: 3)) {
                try wider.write { tx in try tx.upsert(prepared) }
            }
            // A bad memory is refused when prepared, with the error its upsert gives.
            #expect(throws: EngramError.wrongDimension(id: "bad", expected: 3, got: 2)) {
                try store.prepareForWrite([NewMemory(id: "bad", vector: [1, 0])])
            }
        }
    }

    @Test("families must be registered, and the store's own are written through upsert and delete")
    func familyRules() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 3), registration: Self.registration)
            #expect(throws: EngramError.invalidArgument("column family 'nope' was not registered when the database was opened")) {
                try store.write { tx in try tx.put("nope", key: [1], value: [1]) }
            }
            #expect(throws: EngramError.invalidArgument("column family 'records' belongs to the memory store; use upsert and delete")) {
                try store.write { tx in try tx.put("records", key: [1], value: [1]) }
            }
            #expect(throws: EngramError.invalidArgument("'other' is not a registered change-log consumer")) {
                try store.write { tx in try tx.advanceWatermark("other", to: 0) }
            }
        }
    }

    @Test("the change log records every write, in order, with ids")
    func changeRecords() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 3), registration: Self.registration)
            try store.upsert([NewMemory(id: "a", vector: [1, 0, 0]), NewMemory(id: "b", vector: [0, 1, 0])])
            try store.upsert([NewMemory(id: "a", vector: [0, 0, 1])])
            try store.delete(ids: ["b"])
            let changes = try store.changes(after: 0)
            #expect(changes.map(\.seq) == [1, 2, 3, 4, 5])
            #expect(changes.map(\.kind) == [.upsert, .upsert, .delete, .upsert, .delete])
            #expect(changes.map(\.id) == ["a", "b", "a", "a", "b"])
            // The replaced version of "a" (label 0) is retired before its new label (2) goes live.
            #expect(changes.map(\.label) == [0, 1, 0, 2, 1])
            #expect(try store.changes(after: 3, limit: 1).map(\.seq) == [4])
        }
    }

    @Test("the log is trimmed at the lowest watermark: a consumer behind keeps its changes")
    func watermarks() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 3), registration: Self.registration)
            for i in 0..<10 { try store.upsert([NewMemory(id: "m\(i)", vector: [1, Float(i), 0])]) }
            // The index snapshots everything; the graph consumer has applied nothing.
            try store.compact()
            #expect(try store.changes(after: 0).count == 10)
            #expect(try store.consumerState("graph") == ConsumerState(name: "graph", watermark: 0, trimmedThrough: 0))
            // The graph applies changes 1…6, atomically with its own state.
            try store.write { tx in
                try tx.put("graph", key: Array("applied".utf8), value: [6])
                try tx.advanceWatermark("graph", to: 6)
            }
            #expect(try store.changes(after: 0).map(\.seq) == [7, 8, 9, 10])
            #expect(try store.consumerState("graph") == ConsumerState(name: "graph", watermark: 6, trimmedThrough: 6))
            #expect(throws: EngramError.invalidArgument("watermark 11 of 'graph' is beyond the last change (10)")) {
                try store.write { tx in try tx.advanceWatermark("graph", to: 11) }
            }
            try store.close()

            // Watermarks and the trim point survive a reopen; the index stays correct.
            let reopened = try MemoryStore.open(at: dir, registration: Self.registration)
            #expect(try reopened.consumerState("graph").watermark == 6)
            #expect(try reopened.changes(after: 0).map(\.seq) == [7, 8, 9, 10])
            #expect(try reopened.check().ok)
            #expect(try reopened.query(MemoryQuery(vector: [1, 9, 0], k: 1)).results.first?.id == "m9")
            // A consumer registered later starts behind the trim point and must rebuild.
            try reopened.close()
            let later = try MemoryStore.open(at: dir, registration: .init(consumers: ["graph", "cache"]))
            #expect(try later.consumerState("cache").mustRebuild)
            #expect(throws: EngramError(.notFound, "'nope' is not a registered change-log consumer")) {
                try later.consumerState("nope")
            }
        }
    }

    @Test("closing after a small write does not rewrite the index; the next open replays the log")
    func cheapClose() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.ivf, dimension: 32))
            let memories = makeMemories(count: 1200, dimension: 32)
            try store.upsert(memories)
            try store.compact()
            let snapshots = { try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("index").path).sorted() }
            let before = try snapshots()
            try store.close()
            let reopened = try MemoryStore.open(at: dir)
            try reopened.upsert([NewMemory(id: "late", vector: memories[3].vector)])
            try reopened.close()
            #expect(try snapshots() == before)
            let third = try MemoryStore.open(at: dir)
            #expect(try third.stats().changesSinceSnapshot == 1)
            #expect(try third.query(MemoryQuery(vector: memories[3].vector, k: 2)).results.map(\.id).contains("late"))
            #expect(try third.check().ok)
        }
    }
}
