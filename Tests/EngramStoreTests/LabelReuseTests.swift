import EngramBase
import EngramStore
import Foundation
import Testing

@Suite("Label reuse")
struct LabelReuseTests {
    static let scoring = ScoringOptions(wSim: 1, wTime: 0.3, wImportance: 0.1, halfLife: 30 * day)

    /// The store's top 10 for a few queries, against the exact reference over `current`.
    func expectExact(_ store: MemoryStore, _ current: [NewMemory], tag: String? = nil) throws {
        for i in [0, 7, current.count / 2, current.count - 1] {
            let q = current[i].vector
            let filter = tag.map { MemoryFilter(allTags: [$0]) } ?? MemoryFilter()
            let got = try store.query(MemoryQuery(vector: q, k: 10, filter: filter, scoring: Self.scoring, now: baseNow)).results.map(\.id)
            let want = bruteForce(current, query: q, k: 10, wSim: 1, wTime: 0.3, wImp: 0.1, halfLife: 30 * day, now: baseNow) {
                tag == nil || $0.tags.contains(tag!)
            }
            #expect(got == want, "query \(i), tag \(tag ?? "-")")
        }
    }

    @Test("labels freed by compact are taken by new memories, in this process and after a reopen")
    func churn() throws {
        try withTempDirectory { dir in
            let first = makeMemories(count: 300, dimension: 32, seed: 21)
            let second = makeMemories(count: 300, dimension: 32, seed: 22) // the same ids, new vectors
            var store = try MemoryStore.create(at: dir, settings: testSettings(.flat))
            try store.upsert(first)
            try store.upsert(second)
            #expect(try store.stats().labels == 600)
            try store.compact()
            // Replacing every memory again takes the 300 labels the first versions left.
            try store.upsert(first)
            #expect(try store.stats().labels == 600)
            #expect(try store.check().ok)
            try expectExact(store, first)
            try expectExact(store, first, tag: "red")
            try store.close()

            // Reopened (snapshot plus replayed changes), the same answers.
            store = try MemoryStore.open(at: dir)
            #expect(try store.check().ok)
            try expectExact(store, first)
            try store.upsert(second)
            #expect(try store.stats().labels == 900)
            try store.compact()
            try store.close()

            // A new process after compact frees the dead labels too.
            store = try MemoryStore.open(at: dir)
            try store.upsert(first)
            #expect(try store.stats().labels == 900)
            try expectExact(store, first, tag: "blue")
            try store.delete(ids: ["m3", "m4"])
            #expect(try store.check().ok)
            try store.close()
            store = try MemoryStore.open(at: dir)
            #expect(try store.check().ok)
            try expectExact(store, first.filter { $0.id != "m3" && $0.id != "m4" })
            try store.close()
        }
    }

    @Test("an IVF index takes reused labels into the right lists, and check finds every memory")
    func ivf() throws {
        try withTempDirectory { dir in
            let first = makeMemories(count: 800, dimension: 32, seed: 23)
            let second = makeMemories(count: 800, dimension: 32, seed: 24)
            let store = try MemoryStore.create(at: dir, settings: testSettings(.ivf))
            try store.upsert(first)
            try store.upsert(second)
            try store.compact()
            try store.upsert(first)
            #expect(try store.stats().labels == 1600)
            let report = try store.check()
            #expect(report.ok && report.liveInStore == 800 && report.searchableInIndex == 800)
            for i in [1, 400, 799] {
                let top = try store.query(MemoryQuery(vector: first[i].vector, k: 1)).results.first
                #expect(top?.id == "m\(i)")
            }
            try store.close()
        }
    }

    @Test("an abandoned transaction gives back the labels it took")
    func abandoned() throws {
        try withTempDirectory { dir in
            let first = makeMemories(count: 100, dimension: 32, seed: 25)
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat))
            try store.upsert(first)
            try store.delete(ids: first.prefix(50).map { $0.id! })
            try store.compact()
            struct Abandon: Error {}
            #expect(throws: Abandon.self) {
                try store.write { tx in
                    try tx.upsert(Array(first.prefix(50)))
                    throw Abandon()
                }
            }
            try store.upsert(Array(first.prefix(50)))
            #expect(try store.stats().labels == 100)
            #expect(try store.check().ok)
            try expectExact(store, first)
            try store.close()
        }
    }
}
