import EngramBase
import EngramStore
import Foundation
import Testing

@Suite("Scoring and filters against brute force")
struct ScoringTests {
    static let memories = makeMemories(count: 3000, dimension: 32)

    static func queries(_ n: Int, seed: UInt64) -> [[Float]] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { i in memories[(i * 37) % memories.count].vector.map { $0 + 0.5 * Float(rng.gaussian()) } }
    }

    static let weightSets: [(Double, Double, Double, Double)] = [
        // (wSim, wTime, wImp, half-life days)
        (1, 0, 0, 30), (1, 0.5, 0, 30), (1, 1, 0, 7), (1, 0.2, 0.3, 90), (0.2, 1, 0, 1), (1, 3, 0, 0.5), (0, 1, 1, 30),
    ]

    @Test("flat index: exact top-k for every weight set", arguments: [IndexKind.flat])
    func exactFlat(kind: IndexKind) throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(kind))
            try store.upsert(Self.memories)
            for (ws, wt, wi, hl) in Self.weightSets {
                for q in Self.queries(10, seed: 7) {
                    let got = try store.query(MemoryQuery(vector: q, k: 10, scoring: ScoringOptions(
                        wSim: ws, wTime: wt, wImportance: wi, halfLife: hl * day), now: baseNow))
                    let want = bruteForce(Self.memories, query: q, k: 10, wSim: ws, wTime: wt, wImp: wi,
                                          halfLife: hl * day, now: baseNow)
                    #expect(got.results.map(\.id) == want, "weights \(ws),\(wt),\(wi),\(hl)d")
                }
            }
            try store.close()
        }
    }

    @Test("ANN indexes: recall against brute force", arguments: [IndexKind.ivf, .hnsw, .auto])
    func annRecall(kind: IndexKind) throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(kind))
            try store.upsert(Self.memories)
            // The IVF index is built in the background; queries meanwhile are answered exactly.
            store.waitForBackgroundWork()
            #expect(try store.stats().indexKind == (kind == .hnsw ? "hnsw" : "ivf"))
            for (ws, wt, wi, hl) in Self.weightSets {
                var total = 0.0, n = 0.0
                for q in Self.queries(20, seed: 11) {
                    let got = try store.query(MemoryQuery(vector: q, k: 10, scoring: ScoringOptions(
                        wSim: ws, wTime: wt, wImportance: wi, halfLife: hl * day), now: baseNow))
                    let want = bruteForce(Self.memories, query: q, k: 10, wSim: ws, wTime: wt, wImp: wi,
                                          halfLife: hl * day, now: baseNow)
                    total += recall(got.results.map(\.id), want)
                    n += 1
                    // Every breakdown adds up to the score.
                    for r in got.results {
                        #expect(abs(r.score - (ws * r.similarity + wt * r.recency + wi * r.importance)) < 1e-9)
                    }
                }
                let required = (wt > 0 || wi > 0) ? 0.99 : 0.95
                #expect(total / n >= required, "recall \(total / n) for weights \(ws),\(wt),\(wi),\(hl)d")
            }
            try store.close()
        }
    }

    @Test("every filter returns the exact filtered top-k", arguments: [IndexKind.flat, .ivf, .hnsw])
    func filters(kind: IndexKind) throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(kind))
            try store.upsert(Self.memories)
            let cases: [(MemoryFilter, (NewMemory) -> Bool)] = [
                (MemoryFilter(namespace: "alpha"), { $0.namespace == "alpha" }),
                (MemoryFilter(allTags: ["red", "work"]), { $0.tags.contains("red") && $0.tags.contains("work") }),
                (MemoryFilter(anyTags: ["blue", "home"]), { $0.tags.contains("blue") || $0.tags.contains("home") }),
                (MemoryFilter(metaEquals: ["group": .number(3)]), { $0.meta["group"] == .number(3) }),
                (MemoryFilter(metaEquals: ["kind": .string("odd"), "group": .number(2)]),
                 { $0.meta["kind"] == .string("odd") && $0.meta["group"] == .number(2) }),
                (MemoryFilter(since: baseNow - 30 * day), { $0.time! >= baseNow - 30 * day }),
                (MemoryFilter(until: baseNow - 300 * day), { $0.time! <= baseNow - 300 * day }),
                (MemoryFilter(asOf: baseNow - 200 * day), { $0.time! <= baseNow - 200 * day }),
                (MemoryFilter(excludedNamespaces: ["alpha", "nope"]), { $0.namespace != "alpha" }),
                (MemoryFilter(namespace: "beta", allTags: ["green"], since: baseNow - 100 * day),
                 { $0.namespace == "beta" && $0.tags.contains("green") && $0.time! >= baseNow - 100 * day }),
            ]
            for (filter, keep) in cases {
                for q in Self.queries(8, seed: 5) {
                    for (wt, hl) in [(0.0, 30.0), (1.0, 10.0)] {
                        let got = try store.query(MemoryQuery(vector: q, k: 10, filter: filter,
                                                              scoring: ScoringOptions(wTime: wt, halfLife: hl * day),
                                                              now: baseNow)).results.map(\.id)
                        let want = bruteForce(Self.memories, query: q, k: 10, wSim: 1, wTime: wt, wImp: 0,
                                              halfLife: hl * day, now: baseNow, where: keep)
                        #expect(got.count == want.count, "\(filter): \(got.count) results, \(want.count) expected")
                        #expect(recall(got, want) >= (kind == .flat ? 1.0 : 0.8), "\(filter) wTime \(wt)")
                    }
                }
            }
            // An unknown namespace or tag matches nothing rather than failing.
            #expect(try store.query(MemoryQuery(vector: Self.memories[0].vector, filter: MemoryFilter(namespace: "nope"))).results.isEmpty)
            #expect(try store.query(MemoryQuery(vector: Self.memories[0].vector, filter: MemoryFilter(allTags: ["nope"]))).results.isEmpty)
            try store.close()
        }
    }

    /// `query(batch:)` (a server's queries that arrived together): the unfiltered searches find
    /// their IVF lists together, each with its own count (time and importance weights double
    /// it); a filtered query and one that fails sit between them. Each answer is the one the
    /// query gets alone, to the bit.
    @Test("a batch of queries: each answer is the one the query gets alone")
    func batchOfQueries() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.ivf))
            try store.upsert(Self.memories)
            store.waitForBackgroundWork()
            #expect(try store.stats().indexKind == "ivf")
            var batch = Self.queries(11, seed: 23).enumerated().map { i, q in
                let (ws, wt, wi, hl) = Self.weightSets[i % Self.weightSets.count]
                return MemoryQuery(vector: q, k: 5 + i, scoring: ScoringOptions(wSim: ws, wTime: wt, wImportance: wi, halfLife: hl * day),
                                   now: baseNow)
            }
            batch.insert(MemoryQuery(vector: Self.memories[3].vector, k: 10, filter: MemoryFilter(namespace: "alpha"), now: baseNow), at: 4)
            batch.insert(MemoryQuery(vector: [1, 2, 3], k: 10), at: 7)
            let answers = store.query(batch: batch)
            #expect(answers.count == batch.count)
            for (i, (query, together)) in zip(batch, answers).enumerated() {
                switch (Result { try store.query(query) }, together) {
                case let (.success(alone), .success(together)):
                    #expect(together.results.map(\.id) == alone.results.map(\.id), "query \(i)")
                    #expect(together.results.map(\.score) == alone.results.map(\.score), "query \(i)")
                    #expect(together.plan == alone.plan && together.scored == alone.scored, "query \(i): \(together.plan)")
                    #expect(together.results.count == query.k, "query \(i)")
                case let (.failure(alone as EngramError), .failure(together as EngramError)):
                    #expect(i == 7 && together.code == .invalidArgument && together.message == alone.message, "query \(i): \(together)")
                case let (alone, together):
                    Issue.record("query \(i): \(alone) alone, \(together) in the batch")
                }
            }
            try store.close()
        }
    }

    @Test("a selective filter still returns k results when k match")
    func selectiveFilter() throws {
        try withTempDirectory { dir in
            var memories = makeMemories(count: 2000, dimension: 32, seed: 3)
            for i in stride(from: 0, to: 2000, by: 400) { memories[i].tags.append("rare") }
            let store = try MemoryStore.create(at: dir, settings: testSettings(.ivf))
            try store.upsert(memories)
            // A query far from every rare memory: the ANN neighbourhood contains none of them.
            let got = try store.query(MemoryQuery(vector: memories[1].vector, k: 5, filter: MemoryFilter(allTags: ["rare"])))
            #expect(got.results.count == 5)
            #expect(Set(got.results.map(\.id)) == Set(["m0", "m400", "m800", "m1200", "m1600"]))
            // Closed before its directory goes (2,000 memories start an IVF rebuild, which
            // would fail on a removed directory and log it).
            try store.close()
        }
    }
}
