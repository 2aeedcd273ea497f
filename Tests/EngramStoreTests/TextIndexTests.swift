import EngramBase
import EngramStore
import Foundation
import Synchronization
import Testing

/// The full-text index: analysis, BM25 against a brute force over the same analysed
/// documents, durability of its writes, and the exactness of hybrid fusion under decay.
@Suite("Full-text index and hybrid retrieval")
struct TextIndexTests {
    static let english = TextAnalyzer(TextSettings())

    @Test("analysis keeps identifiers, versions and amounts whole, stems words, drops stop words")
    func analysis() throws {
        let a = Self.english
        // Compounds whole, and their lettered parts stemmed.
        #expect(try a.terms("PUMP-7 failed") == ["pump-7", "pump", "fail"])
        #expect(try a.terms("upgrade to v2.3.1 now") == ["upgrad", "v2.3.1", "v2", "now"])
        #expect(try a.terms("paid $1,234.56.") == ["paid", "1,234.56", "1234.56"])
        #expect(try a.terms("mail bob@example.com") == ["mail", "bob@example.com", "bob", "exampl", "com"])
        // Snowball English examples (Porter's paper and the Snowball site).
        #expect(try a.terms("caresses ponies running generously") == ["caress", "poni", "run", "generous"])
        // Stop words (Snowball's English list) and apostrophes inside words.
        #expect(try a.terms("It's the cat's toy, and I don't know") == ["cat", "toy", "know"])
        // Case and diacritic folding (English folds; NFC and NFD forms agree).
        #expect(try a.terms("CAFÉ Café cafe\u{301}") == ["cafe", "cafe", "cafe"])
        // Ideographs are words of their own; other scripts are split on spaces.
        #expect(try a.terms("東京 Москва") == ["東", "京", "москва"])
        // 12:30 and 3,5 only between digits; a trailing full stop is punctuation.
        #expect(try a.terms("at 12:30 item,price end.") == ["12:30", "item", "price", "end"])

        var none = TextSettings()
        none.language = "none"
        none.stopWords = .none
        #expect(try TextAnalyzer(none).terms("The Running cats") == ["the", "running", "cats"])
        var german = TextSettings()
        german.language = "german"
        german.stopWords = .none
        // German keeps its umlauts for the stemmer (no folding by default), which reads them.
        #expect(try TextAnalyzer(german).terms("Häuser") == ["haus"])
        #expect(TextAnalyzer(german).descriptor != TextAnalyzer(TextSettings()).descriptor)
    }

    @Test("analysis of arbitrary Unicode never fails, drops nothing but separators, and is deterministic")
    func analysisOfAnything() throws {
        let seed: UInt64 = 99_001
        print("TextIndexTests.analysisOfAnything seed \(seed)")
        var rng = SeededRandom(seed: seed)
        // Letters, digits, joiners, combining marks, ideographs, kana, emoji, RTL, controls.
        let alphabet: [Unicode.Scalar] = Array("aZ9-._/@,:'’$ é\u{301}\u{308}東京カナعربيةשלום🙂👍🏽\u{200D}\u{0}\t\n".unicodeScalars)
        var german = TextSettings()
        german.language = "german"
        for analyzer in [Self.english, TextAnalyzer(german)] {
            for _ in 0..<2000 {
                var view = String.UnicodeScalarView()
                for _ in 0..<Int.random(in: 0...40, using: &rng) { view.append(alphabet.randomElement(using: &rng)!) }
                let text = String(view)
                let terms = try analyzer.terms(text)
                #expect(try analyzer.terms(text) == terms)
                #expect(terms.allSatisfy { !$0.isEmpty && $0.utf8.count <= TextAnalyzer.maxTermBytes }, "\(text.debugDescription) → \(terms)")
                // A text of separators only has no terms.
                if text.unicodeScalars.allSatisfy({ " \t\n\u{0}$,.:/".unicodeScalars.contains($0) }) { #expect(terms.isEmpty) }
            }
        }
        // A run longer than the limit is data, not a word: dropped.
        #expect(try Self.english.terms(String(repeating: "x", count: 500) + " valve") == ["valv"])
    }

    // MARK: BM25 against a brute force

    static let vocabulary = ["pump", "valve", "boiler", "leak", "pressure", "sensor", "alarm", "station", "river",
                             "bridge", "tunnel", "cable", "meter", "filter", "engine", "turbine", "PUMP-7", "v2.3.1",
                             "rotor", "gasket"]

    /// Random texts over `vocabulary` (Zipf-like: early words are common), with filters' fields.
    static func documents(_ count: Int, seed: UInt64, dimension: Int) -> [NewMemory] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { i in
            let length = Int.random(in: 0...12, using: &rng)
            let words = (0..<length).map { _ in
                vocabulary[min(vocabulary.count - 1, Int(Double(vocabulary.count) * pow(Double.random(in: 0..<1, using: &rng), 2)))]
            }
            let vector = (0..<dimension).map { _ in Float(rng.gaussian()) }
            return NewMemory(id: "d\(i)", namespace: i % 2 == 0 ? "even" : "odd", text: words.joined(separator: " "),
                             vector: vector, tags: i % 3 == 0 ? ["third"] : [],
                             time: baseNow - Double(count - i) * 3600, importance: Double(i % 10) / 10)
        }
    }

    /// BM25 over `live` as `TextSearch` documents it, computed here from the analyser's terms.
    static func bruteBM25(_ live: [NewMemory], query: String, k1: Double, b: Double,
                          keep: (NewMemory) -> Bool = { _ in true }) throws -> [String: Double] {
        let docs = try live.map { ($0, try english.terms($0.text)) }
        let n = Double(docs.count)
        let avgdl = docs.reduce(0.0) { $0 + Double($1.1.count) } / n
        var seen = Set<String>()
        let terms = try english.terms(query).filter { seen.insert($0).inserted }
        var scores: [String: Double] = [:]
        for term in terms {
            let df = Double(docs.filter { $0.1.contains(term) }.count)
            let idf = log(1 + (n - df + 0.5) / (df + 0.5))
            for (memory, words) in docs where keep(memory) {
                let tf = Double(words.filter { $0 == term }.count)
                guard tf > 0 else { continue }
                let dl = Double(words.count)
                scores[memory.id!, default: 0] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
            }
        }
        return scores
    }

    /// Every match's BM25 through a text query (k and candidates large enough for all).
    static func storeBM25(_ store: MemoryStore, _ query: String, filter: MemoryFilter = MemoryFilter()) throws -> [String: Double] {
        let result = try store.query(MemoryQuery(vector: [], k: 10_000, filter: filter, now: baseNow, fetchRecords: false,
                                                 text: query, mode: .text, fusion: FusionOptions(candidates: 10_000)))
        var out: [String: Double] = [:]
        for r in result.results { out[r.id] = r.text?.score }
        return out
    }

    static func expectSame(_ got: [String: Double], _ want: [String: Double], _ label: String) {
        #expect(Set(got.keys) == Set(want.keys), "\(label): matched ids differ")
        for (id, score) in want {
            #expect(abs((got[id] ?? -1) - score) <= 1e-6, "\(label): \(id) BM25 \(got[id] ?? -1) ≠ \(score)")
        }
    }

    static let queries = ["pump leak", "PUMP-7 pressure", "v2.3.1 gaskets", "turbine rotor filter", "alarm", "the river"]

    @Test("BM25 equals a brute force, with filters, after updates and deletes, and after reopening")
    func bm25() throws {
        let seed: UInt64 = 20261202
        print("TextIndexTests.bm25 seed \(seed)")
        try withTempDirectory { dir in
            // 2,600 memories over three label blocks, written in batches of 300: blocks fill
            // across writes, the writer's cache lets the oldest go, and later updates of old
            // labels read their blocks back.
            var live = Self.documents(2600, seed: seed, dimension: 16)
            let settings = testSettings(.flat, dimension: 16)
            var store = try MemoryStore.create(at: dir, settings: settings)
            for start in stride(from: 0, to: live.count, by: 300) { try store.upsert(Array(live[start..<min(start + 300, live.count)])) }
            let k1 = settings.text.k1, b = settings.text.b

            func verify(_ stage: String) throws {
                for q in Self.queries {
                    Self.expectSame(try Self.storeBM25(store, q), try Self.bruteBM25(live, query: q, k1: k1, b: b), "\(stage) '\(q)'")
                    let filter = MemoryFilter(namespace: "even", allTags: ["third"])
                    Self.expectSame(try Self.storeBM25(store, q, filter: filter),
                                    try Self.bruteBM25(live, query: q, k1: k1, b: b) { $0.namespace == "even" && $0.tags == ["third"] },
                                    "\(stage) '\(q)' filtered")
                }
                let report = try store.check()
                #expect(report.ok, "\(stage): \(report.textProblems)")
                let postings = try live.reduce(0) { $0 + Set(try Self.english.terms($1.text)).count }
                #expect(report.textPostings == postings, "\(stage)")
            }
            try verify("inserted")

            // Updates change texts (and some ids twice in one write), deletes remove memories.
            var rng = SeededRandom(seed: seed + 1)
            var updates: [NewMemory] = []
            for i in stride(from: 0, to: 2600, by: 7) {
                var m = live[i]
                m.text = (0..<Int.random(in: 1...6, using: &rng)).map { _ in Self.vocabulary.randomElement(using: &rng)! }.joined(separator: " ")
                updates.append(m)
                live[i] = m
            }
            var twice = live[3]
            twice.text = "boiler boiler"
            updates.append(twice)
            twice.text = "river bridge"
            updates.append(twice)
            live[3] = twice
            try store.upsert(updates)
            let deleted = Set(stride(from: 1, to: 2600, by: 5).map { "d\($0)" })
            try store.delete(ids: Array(deleted))
            live.removeAll { deleted.contains($0.id!) }
            try verify("updated")

            try store.close()
            store = try MemoryStore.open(at: dir)
            try verify("reopened")

            // Writes whose segments are not merged yet: queries and check read them with the
            // blocks (a label's newest event wins), then the same after the merge.
            try store.pausingTextMerges {
                var changed: [NewMemory] = []
                for i in stride(from: 2, to: 2600, by: 11) where !deleted.contains("d\(i)") {
                    var m = live.first { $0.id == "d\(i)" }!
                    m.text = "gasket rotor PUMP-7 \(m.text)"
                    changed.append(m)
                }
                try store.upsert(changed)
                for m in changed { live[live.firstIndex { $0.id == m.id }!] = m }
                let gone = live.filter { $0.text.contains("alarm") }.prefix(40).map { $0.id! }
                try store.delete(ids: gone)
                live.removeAll { gone.contains($0.id!) }
                try store.upsert(Array(Self.documents(30, seed: seed + 2, dimension: 16).map { m -> NewMemory in
                    var n = m
                    n.id = "new-\(m.id!)"
                    return n
                }))
                live += Self.documents(30, seed: seed + 2, dimension: 16).map { m -> NewMemory in
                    var n = m
                    n.id = "new-\(m.id!)"
                    return n
                }
                try verify("pending")
            }
            store.waitForBackgroundWork()
            try verify("merged")

            // After closing nothing is pending (closing merges what is left): the next,
            // read-only, open reads postings blocks only.
            try store.pausingTextMerges {
                try store.upsert([NewMemory(id: "late", text: "valve turbine", vector: live[0].vector, time: baseNow)])
                #expect(try store.stats().textPending == 1)
            }
            live.append(NewMemory(id: "late", text: "valve turbine", vector: live[0].vector, time: baseNow))
            try store.close()
            let reader = try MemoryStore.open(at: dir, readOnly: true)
            #expect(try reader.stats().textPending == 0)
            try reader.close()
            store = try MemoryStore.open(at: dir)
            try verify("closed and reopened")

            // Deleting everything leaves no posting behind.
            try store.delete(ids: live.map { $0.id! })
            live = []
            let report = try store.check()
            #expect(report.ok && report.textPostings == 0, "\(report.textProblems)")
            #expect(try Self.storeBM25(store, "pump").isEmpty)
        }
    }

    // MARK: Fusion

    /// The hybrid reference: both lists exactly, fused as `FusionMethod` documents, every
    /// memory scored (relevance 0 outside the lists) and sorted.
    static func bruteHybrid(_ live: [NewMemory], text: String, vector: [Float], k: Int, candidates: Int,
                            method: FusionMethod, wText: Double, wTime: Double, wImp: Double, halfLife: Double) throws -> [String] {
        let q = normalised(vector)
        typealias Scored = (id: String, score: Double)
        let order: (Scored, Scored) -> Bool = { $0.score != $1.score ? $0.score > $1.score : label(of: $0.id) < label(of: $1.id) }
        let cosines: [Scored] = live.map { m in
            var dot = 0.0
            for (x, y) in zip(q, normalised(m.vector)) { dot += Double(x) * Double(y) }
            return (m.id!, dot)
        }
        let vectorList = Array(cosines.sorted(by: order).prefix(candidates))
        let bm25: [Scored] = try bruteBM25(live, query: text, k1: TextSettings().k1, b: TextSettings().b).map { ($0.key, $0.value) }
        let textList = Array(bm25.sorted(by: order).prefix(candidates))
        var relevance: [String: Double] = [:]
        let lists: [([Scored], Double)] = [(vectorList, 1 - wText), (textList, wText)]
        for (list, weight) in lists where !list.isEmpty {
            let scores = list.map(\.score)
            let lo = scores.min()!, hi = scores.max()!
            for (rank, (id, s)) in list.enumerated() {
                let part: Double
                switch method {
                case .minmax: part = hi > lo ? (s - lo) / (hi - lo) : 1
                case .zscore:
                    let mean = scores.reduce(0, +) / Double(scores.count)
                    let sd = (scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(scores.count)).squareRoot()
                    part = sd > 0 ? (s - mean) / sd - (lo - mean) / sd : 1
                case .rrf: part = 61.0 / Double(60 + rank + 1)
                }
                relevance[id, default: 0] += weight * part
            }
        }
        let scored: [Scored] = live.map { m in
            let recency = pow(0.5, max(0, baseNow - m.time!) / halfLife)
            let total: Double = (relevance[m.id!] ?? 0) + wTime * recency + wImp * m.importance
            return (m.id!, total)
        }
        return scored.sorted(by: order).prefix(k).map(\.id)
    }

    /// Labels follow insertion in a fresh store: `d<i>` has label i (the tie-break order).
    static func label(of id: String) -> Int { Int(id.dropFirst())! }

    @Test("hybrid top-k under time decay equals the brute force, for every fusion", arguments: FusionMethod.allCases)
    func hybridExact(method: FusionMethod) throws {
        let seed: UInt64 = 77
        print("TextIndexTests.hybridExact seed \(seed)")
        try withTempDirectory { dir in
            let live = Self.documents(1500, seed: seed, dimension: 16)
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 16))
            try store.upsert(live)
            var rng = SeededRandom(seed: seed)
            for (wTime, wImp, halfLife) in [(0.0, 0.0, 30 * day), (0.5, 0, 2 * day), (2, 0.3, 0.5 * day), (0, 0.4, day)] {
                for text in Self.queries {
                    let vector = (0..<16).map { _ in Float(rng.gaussian()) }
                    let got = try store.query(MemoryQuery(
                        vector: vector, k: 10, scoring: ScoringOptions(wSim: 1, wTime: wTime, wImportance: wImp, halfLife: halfLife),
                        now: baseNow, fetchRecords: false, text: text, mode: .hybrid,
                        fusion: FusionOptions(method: method, wText: 0.6, candidates: 40)))
                    let want = try Self.bruteHybrid(live, text: text, vector: vector, k: 10, candidates: 40, method: method,
                                                    wText: 0.6, wTime: wTime, wImp: wImp, halfLife: halfLife)
                    #expect(got.results.map(\.id) == want, "\(method) '\(text)' w_time \(wTime) w_imp \(wImp): \(got.plan)")
                    for r in got.results {
                        #expect(abs(r.score - (r.similarity + wTime * r.recency + wImp * r.importance)) < 1e-9)
                    }
                }
            }
        }
    }

    @Test("text mode returns only memories holding a query term; results name their lists")
    func textModeAndSources() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 4))
            try store.upsert([
                NewMemory(id: "a", text: "The PUMP-7 valve leaks", vector: [1, 0, 0, 0], time: baseNow - day),
                NewMemory(id: "b", text: "Pumps were serviced", vector: [0, 1, 0, 0], time: baseNow),
                NewMemory(id: "c", text: "Nothing relevant here", vector: [0.9, 0.1, 0, 0], time: baseNow),
            ])
            // Recency cannot bring in a memory without a query term.
            let text = try store.query(MemoryQuery(vector: [], k: 3, scoring: ScoringOptions(wTime: 5), now: baseNow,
                                                   text: "valve leak", mode: .text, explain: true))
            #expect(text.results.map(\.id) == ["a"])
            #expect(text.results[0].text?.rank == 1 && text.results[0].vector == nil)
            #expect(text.results[0].terms?.map(\.term) == ["valv", "leak"])
            // An identifier finds the memory through its whole form and its parts ("pump" in "Pumps").
            let identifier = try store.query(MemoryQuery(vector: [], k: 3, now: baseNow, text: "PUMP-7", mode: .text, explain: true))
            #expect(identifier.results.map(\.id) == ["a", "b"])
            #expect(identifier.results[0].terms?.map(\.term) == ["pump-7", "pump"])
            #expect(abs((text.results[0].terms?.reduce(0) { $0 + $1.score } ?? 0) - (text.results[0].text?.score ?? -1)) < 1e-9)
            let hybrid = try store.query(MemoryQuery(vector: [1, 0, 0, 0], k: 3, now: baseNow, text: "pumps", mode: .hybrid))
            #expect(hybrid.results.first?.id == "a")
            let b = hybrid.results.first { $0.id == "b" }
            #expect(b?.text?.rank == 1 && b?.vector?.rank == 3)
            // A query of stop words only finds nothing by text.
            #expect(try store.query(MemoryQuery(vector: [], k: 3, text: "the and of", mode: .text)).results.isEmpty)
            // Out-of-range fusion options given per query.
            #expect(throws: EngramError.invalidArgument("w_text must be between 0 and 1")) {
                try store.query(MemoryQuery(vector: [1, 0, 0, 0], k: 3, text: "pumps", mode: .hybrid, fusion: FusionOptions(wText: -0.1)))
            }
            #expect(throws: EngramError.invalidArgument("candidates must be between 1 and 10000")) {
                try store.query(MemoryQuery(vector: [], k: 3, text: "pumps", mode: .text, fusion: FusionOptions(candidates: 0)))
            }
            #expect(throws: EngramError.invalidArgument("hybrid retrieval needs the query text")) {
                try store.query(MemoryQuery(vector: [1, 0, 0, 0], k: 3, mode: .hybrid))
            }
        }
    }

    @Test("changing the analyser in engram.toml rebuilds the index at the next writable open")
    func analyserChange() throws {
        try withTempDirectory { dir in
            var store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 4))
            try store.upsert([NewMemory(id: "a", text: "running cats", vector: [1, 0, 0, 0])])
            #expect(try Self.storeBM25(store, "running").keys.sorted() == ["a"])
            try store.close()
            let toml = dir.appendingPathComponent("engram.toml")
            let text = try String(contentsOf: toml, encoding: .utf8).replacingOccurrences(of: "language = \"english\"", with: "language = \"none\"")
            try text.write(to: toml, atomically: true, encoding: .utf8)
            // Read-only, the old index cannot serve the new analyser: text queries say so, and
            // a query that did not ask for text falls back to vectors.
            store = try MemoryStore.open(at: dir, readOnly: true)
            #expect(throws: EngramError(.failedPrecondition, "the full-text index of \(store.directory.path) is missing or was built with another analyser; open the database for writing once (e.g. `engram compact`) to build it")) {
                try Self.storeBM25(store, "running")
            }
            let fallback = try store.query(MemoryQuery(vector: [1, 0, 0, 0], k: 1, text: "running"))
            #expect(fallback.mode == .vector && fallback.results.map(\.id) == ["a"])
            try store.close()
            store = try MemoryStore.open(at: dir)
            // Unstemmed now: "running" is a term, "run" is not.
            #expect(try Self.storeBM25(store, "running").keys.sorted() == ["a"])
            #expect(try Self.storeBM25(store, "run").isEmpty)
            #expect(try store.check().ok)
        }
    }
}

/// Context windows and metadata boosts.
@Suite("Full-text context windows and boosts")
struct TextWindowTests {
    static let english = TextAnalyzer(TextSettings())

    /// A conversation's turns in two sessions of one namespace, and a turn without a session.
    static func turns(seed: UInt64) -> [NewMemory] {
        var rng = SeededRandom(seed: seed)
        return (0..<60).map { i in
            let words = (0..<Int.random(in: 1...5, using: &rng)).map { _ in TextIndexTests.vocabulary.randomElement(using: &rng)! }
            let meta: [String: JSONValue] = i == 59 ? [:] : ["session": .string("s\(i % 2)"), "speaker": .string(i % 3 == 0 ? "Maria" : "Jon")]
            let vector = (0..<4).map { _ in Float(rng.gaussian()) }
            return NewMemory(id: "d\(i)", namespace: "chat", text: words.joined(separator: " "), vector: vector, meta: meta,
                             time: baseNow - Double(Int.random(in: 0..<40, using: &rng)) * 60, importance: 0)
        }
    }

    /// Each turn's window, built here: its session-mates ordered by (time, creation, label),
    /// `window` on either side; a turn without a session is alone.
    static func bruteWindows(_ live: [NewMemory], labels: [String: Int], window: Int) -> [String: [NewMemory]] {
        var windows: [String: [NewMemory]] = [:]
        let sessions = Dictionary(grouping: live.filter { $0.meta["session"] != nil }) { $0.meta["session"]! }
        for (_, members) in sessions {
            let ordered = members.sorted { ($0.time!, labels[$0.id!]!) < ($1.time!, labels[$1.id!]!) }
            for (i, m) in ordered.enumerated() {
                windows[m.id!] = Array(ordered[max(0, i - window)...min(ordered.count - 1, i + window)])
            }
        }
        for m in live where windows[m.id!] == nil { windows[m.id!] = [m] }
        return windows
    }

    /// BM25 over the window documents of `bruteWindows`.
    static func bruteWindowBM25(_ live: [NewMemory], labels: [String: Int], window: Int, query: String) throws -> [String: Double] {
        let own = try Dictionary(uniqueKeysWithValues: live.map { ($0.id!, try english.terms($0.text)) })
        let windows = bruteWindows(live, labels: labels, window: window).mapValues { $0.flatMap { own[$0.id!]! } }
        let n = Double(live.count)
        let avgdl = windows.values.reduce(0.0) { $0 + Double($1.count) } / n
        let k1 = TextSettings().k1, b = TextSettings().b
        var seen = Set<String>()
        var scores: [String: Double] = [:]
        for term in try english.terms(query) where seen.insert(term).inserted {
            let df = Double(windows.values.filter { $0.contains(term) }.count)
            let idf = log(1 + (n - df + 0.5) / (df + 0.5))
            for (id, words) in windows {
                let tf = Double(words.filter { $0 == term }.count)
                guard tf > 0 else { continue }
                let norm: Double = 1 - b + b * Double(words.count) / avgdl
                let part: Double = idf * tf * (k1 + 1) / (tf + k1 * norm)
                scores[id, default: 0] += part
            }
        }
        return scores
    }

    /// Hybrid's vector-list score of every turn: the mean of its own cosine and its window
    /// embedding's (the normalised sum of its window's unit vectors), in double precision.
    static func bruteWindowCosines(_ live: [NewMemory], labels: [String: Int], window: Int, query: [Float]) -> [String: Double] {
        func unit(_ v: [Double]) -> [Double] {
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
        let q = unit(query.map(Double.init))
        let own = Dictionary(uniqueKeysWithValues: live.map { ($0.id!, unit($0.vector.map(Double.init))) })
        func cosine(_ v: [Double]) -> Double { zip(v, q).reduce(0) { $0 + $1.0 * $1.1 } }
        var scores: [String: Double] = [:]
        for (id, members) in bruteWindows(live, labels: labels, window: window) {
            var sum = [Double](repeating: 0, count: q.count)
            for m in members { for (i, x) in own[m.id!]!.enumerated() { sum[i] += x } }
            scores[id] = (cosine(own[id]!) + cosine(unit(sum))) / 2
        }
        return scores
    }

    @Test("context windows: each turn is indexed with its session neighbours, kept exact through inserts, updates and deletes")
    func windows() throws {
        let seed: UInt64 = 4242
        print("TextWindowTests.windows seed \(seed)")
        try withTempDirectory { dir in
            var settings = testSettings(.flat, dimension: 4)
            settings.text.contextWindow = 2
            settings.text.threadField = "session"
            var store = try MemoryStore.create(at: dir, settings: settings)
            var live = Self.turns(seed: seed)
            // Labels follow the order of insertion in a fresh store (the tie-break after time).
            var labels: [String: Int] = [:]
            // Half in one batch, then one at a time: windows grow as turns arrive.
            try store.upsert(Array(live[..<30]))
            for (i, m) in live.enumerated() where i < 30 { labels[m.id!] = i }
            for (i, m) in live[30...].enumerated() {
                try store.upsert([m])
                labels[m.id!] = 30 + i
            }
            var rng = SeededRandom(seed: seed)
            func verify(_ stage: String) throws {
                for q in TextIndexTests.queries {
                    TextIndexTests.expectSame(try TextIndexTests.storeBM25(store, q),
                                              try Self.bruteWindowBM25(live, labels: labels, window: 2, query: q), "\(stage) '\(q)'")
                    // Every turn is an own-vector candidate: each one's window is scored.
                    let vector = (0..<4).map { _ in Float(rng.gaussian()) }
                    let hybrid = try store.query(MemoryQuery(vector: vector, k: 100, scoring: ScoringOptions(wTime: 0, wImportance: 0),
                                                             now: baseNow, fetchRecords: false, text: q, mode: .hybrid,
                                                             fusion: FusionOptions(candidates: 100)))
                    let want = Self.bruteWindowCosines(live, labels: labels, window: 2, query: vector)
                    #expect(hybrid.results.count == live.count, "\(stage) '\(q)'")
                    for r in hybrid.results {
                        #expect(abs(r.vector!.score - want[r.id]!) < 1e-6, "\(stage) '\(q)' \(r.id): \(r.vector!.score) vs \(want[r.id]!)")
                    }
                }
                let report = try store.check()
                #expect(report.ok, "\(stage): \(report.textProblems)")
            }
            try verify("inserted")
            // An update moves a turn in time (a new label: the next one); a delete closes a gap.
            var moved = live[10]
            moved.time = baseNow - 3600
            moved.text = "turbine rotor"
            try store.upsert([moved])
            live[10] = moved
            labels[moved.id!] = 60
            try store.delete(ids: ["d11", "d20"])
            live.removeAll { $0.id == "d11" || $0.id == "d20" }
            try verify("updated")
            try store.close()
            store = try MemoryStore.open(at: dir)
            try verify("reopened")
        }
    }

    @Test("a boost field's value named in the query raises the memories carrying it, and says so")
    func boosts() throws {
        try withTempDirectory { dir in
            var settings = testSettings(.flat, dimension: 4)
            settings.text.boostFields = ["speaker"]
            settings.text.boost = 0.3
            let store = try MemoryStore.create(at: dir, settings: settings)
            try store.upsert([
                NewMemory(id: "a", text: "I painted a lake at sunrise", vector: [1, 0, 0, 0], meta: ["speaker": .string("Jon")], time: baseNow),
                NewMemory(id: "b", text: "I painted a lake at sunrise", vector: [1, 0, 0, 0], meta: ["speaker": .string("Melanie Stone")], time: baseNow),
            ])
            let q = { (text: String) in
                try store.query(MemoryQuery(vector: [], k: 3, now: baseNow, text: text, mode: .text, explain: true))
            }
            // Both said the same; naming "Melanie Stone" lifts b (every term of the value is
            // named) above a, which the tie would otherwise put first.
            let named = try q("what lake did melanie stone paint")
            #expect(named.results.map(\.id) == ["b", "a"] && named.results[0].boost == 0.3 && named.results[1].boost == nil)
            #expect(abs(named.results[0].similarity - named.results[1].similarity - 0.3) < 1e-12)
            // Half a value is not a name of it.
            let half = try q("what lake did melanie paint")
            #expect(half.results.map(\.id) == ["a", "b"] && half.results.allSatisfy { $0.boost == nil })
            let relevance = named.results.first!
            #expect(abs(relevance.score - relevance.similarity) < 1e-12)
        }
    }
}

/// When pending full-text segments are merged, and what readers see while they are.
@Suite("Full-text merges")
struct TextMergeTests {
    @Test("a few pending documents are merged after the delay, without a wait or a close")
    func delayedMerge() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 4))
            try store.upsert([NewMemory(id: "a", text: "valve turbine", vector: [1, 0, 0, 0], time: baseNow)])
            // Far fewer than `textMergeBatch`: the merge waits `textMergeDelay` (1 s) for more.
            let deadline = Date().addingTimeInterval(20)
            while try store.stats().textPending > 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            #expect(try store.stats().textPending == 0)
            let hits = try store.query(MemoryQuery(vector: [], k: 5, now: baseNow, fetchRecords: false, text: "turbine", mode: .text))
            #expect(hits.results.map(\.id) == ["a"])
            try store.close()
        }
    }

    @Test("queries during writes and merges see each memory exactly once")
    func readersDuringMerges() throws {
        let seed: UInt64 = 99
        print("TextMergeTests.readersDuringMerges seed \(seed)")
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 4))
            // Every batch adds 100 memories with the same one-word text: they score the same
            // while each is counted once (one read from both a block and a segment would score
            // double), and a view that holds one batch holds every batch before it (one whose
            // postings were dropped from the segments before the blocks had them would not).
            var rng = SeededRandom(seed: seed)
            let batches: [[NewMemory]] = (0..<80).map { b in
                (0..<500).map { i in
                    let words = (0..<6).map { _ in TextIndexTests.vocabulary.randomElement(using: &rng)! }
                    return NewMemory(id: "w\(b)-\(i)", text: words.joined(separator: " "), vector: [0, 1, 0, 0], time: baseNow)
                } + (0..<100).map { NewMemory(id: "z\(b)-\($0)", text: "zephyr", vector: [1, 0, 0, 0], time: baseNow) }
            }
            let done = Mutex(false)
            let failures = Mutex<[String]>([])
            let queries = Mutex(0)
            let readerDone = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                defer { readerDone.signal() }
                while !done.withLock({ $0 }) {
                    do {
                        let r = try store.query(MemoryQuery(vector: [], k: 10_000, now: baseNow, fetchRecords: false, text: "zephyr", mode: .text))
                        let scores = Set(r.results.map { $0.text!.score })
                        let newest = r.results.map { Int($0.id.dropFirst().split(separator: "-")[0])! }.max() ?? -1
                        if r.results.count != 100 * (newest + 1) || scores.count > 1 {
                            failures.withLock { $0.append("\(r.results.count) results up to batch \(newest), \(scores.count) distinct scores") }
                        }
                        queries.withLock { $0 += 1 }
                    } catch {
                        failures.withLock { $0.append("query: \(error)") }
                    }
                }
            }
            while queries.withLock({ $0 }) == 0 { Thread.sleep(forTimeInterval: 0.001) }
            // 48,000 memories: past `textMergeBatch` once, and over seconds of writes that the
            // timed merges (`textMergeDelay`) also fall into, so merges run while writes go on.
            do { for batch in batches { try store.upsert(batch) } } catch { failures.withLock { $0.append("write: \(error)") } }
            done.withLock { $0 = true }
            readerDone.wait()
            print("TextMergeTests.readersDuringMerges: \(queries.withLock { $0 }) queries")
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { Array($0.prefix(5)) })")
            #expect(queries.withLock { $0 } > 0)
            store.waitForBackgroundWork()
            let report = try store.check()
            #expect(report.ok, "\(report.textProblems)")
            try store.close()
        }
    }
}
