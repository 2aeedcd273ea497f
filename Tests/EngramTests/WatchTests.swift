import Engram
import Foundation
import Testing

/// `watch`: the sample change logs of Data/ingest (one maintenance history in every format),
/// applied through the facade with the real MiniLM embedder.
@Suite("Change-log ingestion")
struct WatchTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let samples = repoRoot.appendingPathComponent("Data/ingest")
    static let formats = ["debezium", "wal2json-v2", "wal2json-v1", "maxwell", "engram"]

    /// The final rows of the history, by memory id (written by Tools/make-ingest-samples.py).
    static let finalRows: [String: [String: JSONValue]] = {
        let data = try! Data(contentsOf: samples.appendingPathComponent("final-rows.json"))
        return try! JSONDecoder().decode([String: [String: JSONValue]].self, from: data)
    }()

    static func withDatabase(mappings: Bool = false, settings extra: String = "", _ body: (EngramDatabase, URL) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-watch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var settings = StoreSettings()
        settings.sync = false
        var db = try EngramDatabase.create(at: dir.appendingPathComponent("db"), settings: settings)
        if mappings || !extra.isEmpty {
            // The sample's table mappings, links included, and the settings given.
            try db.close()
            let toml = dir.appendingPathComponent("db/engram.toml")
            let tables = mappings ? try String(contentsOf: samples.appendingPathComponent("tables.toml"), encoding: .utf8) : ""
            try (String(contentsOf: toml, encoding: .utf8) + "\n" + tables + "\n" + extra).write(to: toml, atomically: true, encoding: .utf8)
            db = try EngramDatabase.open(at: dir.appendingPathComponent("db"))
        }
        try await body(db, dir)
        try db.close()
    }

    /// Every edge of the graph as `from relation to validFrom validTo`, sorted.
    static func edges(_ db: EngramDatabase) throws -> [String] {
        var out: [String] = []
        try db.store.scan(GraphKeys.edges, prefix: []) { _, value in
            let e = try JSONDecoder().decode(GraphEdge.self, from: Data(value))
            out.append("\(e.from) \(e.relation) \(e.to) \(Int(e.validFrom)) \(e.validTo.map { String(Int($0)) } ?? "-")")
            return true
        }
        return out.sorted()
    }

    /// edges.json (written by Tools/make-ingest-samples.py) in the same form.
    static let expectedEdges: [String] = {
        let data = try! Data(contentsOf: samples.appendingPathComponent("edges.json"))
        let items = try! JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        return items.map { e in
            "\(e["from"]!) \(e["relation"]!) \(e["to"]!) \(e["validFrom"]!) \((e["validTo"] as? Int).map(String.init) ?? "-")"
        }.sorted()
    }()

    /// Every memory's id → its meta without nulls (the row's columns), text and time.
    static func memories(_ db: EngramDatabase) throws -> [String: MemoryRecord] {
        var out: [String: MemoryRecord] = [:]
        try db.export(includeVectors: false) { out[$0.id] = $0 }
        return out
    }

    static func rows(_ db: EngramDatabase) throws -> [String: [String: JSONValue]] {
        try memories(db).mapValues { $0.meta.filter { $0.value != .null } }
    }

    static func expected() -> [String: [String: JSONValue]] { finalRows.mapValues { $0.filter { $0.value != .null } } }

    static func copy(_ format: String, to dir: URL, as name: String? = nil) throws -> URL {
        let file = dir.appendingPathComponent(name ?? "\(format).jsonl")
        try? FileManager.default.removeItem(at: file)
        try FileManager.default.copyItem(at: samples.appendingPathComponent("\(format).jsonl"), to: file)
        return file
    }

    static func append(_ text: String, to file: URL) throws {
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    @Test("every format leaves the final rows; the same log again, or old lines after newer ones, changes nothing",
          arguments: formats)
    func finalRows(format: String) async throws {
        try await Self.withDatabase { db, dir in
            let file = try Self.copy(format, to: dir)
            let first = try await db.watch(WatchRequest(paths: [file.path]))
            let report = try #require(first.sources.first)
            #expect(report.applied == 10 && report.deadLetters == 0 && report.offset == report.size && !report.waiting)
            #expect(try Self.rows(db) == Self.expected())
            let before = try Self.memories(db)
            #expect(before.values.allSatisfy { !$0.text.isEmpty })

            // Caught up: nothing more to read.
            let again = try await db.watch(WatchRequest(paths: [file.path]))
            #expect(again.sources.first?.lines == 0 && again.sources.first?.applied == 0)
            // The whole log delivered again (a connector restarted from the start): all skipped.
            let replay = try Self.copy(format, to: dir, as: "replay-\(format).jsonl")
            let replayed = try await db.watch(WatchRequest(paths: [replay.path]))
            #expect(replayed.sources.first?.applied == 0 && replayed.sources.first?.skipped == 10)
            // Old lines (the first insert of each row) after newer ones: skipped too.
            let lines = try String(contentsOf: Self.samples.appendingPathComponent("\(format).jsonl"), encoding: .utf8)
                .split(separator: "\n").prefix(4).joined(separator: "\n") + "\n"
            try Self.append(lines, to: file)
            let tail = try await db.watch(WatchRequest(paths: [file.path]))
            #expect(tail.sources.first?.applied == 0)
            let after = try Self.memories(db)
            #expect(after == before, "a replay changed the memories")
        }
    }

    @Test("the graph's edges, and the edges as of several times, are what the tables implied; a replay leaves them",
          arguments: ["debezium", "wal2json-v2", "wal2json-v1", "maxwell"])
    func graph(format: String) async throws {
        try await Self.withDatabase(mappings: true) { db, dir in
            let file = try Self.copy(format, to: dir)
            _ = try await db.watch(WatchRequest(paths: [file.path]))
            #expect(try Self.edges(db) == Self.expectedEdges)
            let t0 = 1_780_000_000.0, hour = 3600.0
            // Before the fault moved (commit 8, t0 + 7 h) it affected device 1, after it device 2.
            let before = try db.graphNeighbourhood(of: "faults:1", asOf: Timestamp(t0 + 6.5 * hour))
            #expect(before.edges.map { "\($0.from) \($0.relation) \($0.to)" }.sorted()
                    == ["faults:1 AFFECTS devices:1", "repairs:1 REPAIRS faults:1"])
            let after = try db.graphNeighbourhood(of: "faults:1", asOf: Timestamp(t0 + 8 * hour))
            #expect(after.edges.map { "\($0.from) \($0.relation) \($0.to)" }.sorted()
                    == ["faults:1 AFFECTS devices:2", "repairs:1 REPAIRS faults:1"])
            // Fault 2 affected device 2 from its insert (t0 + 2 h) to its delete (t0 + 5 h).
            #expect(try db.graphNeighbourhood(of: "devices:2", asOf: Timestamp(t0 + 3 * hour)).edges.map(\.from) == ["faults:2"])
            #expect(try db.graphNeighbourhood(of: "devices:2", asOf: Timestamp(t0 + 5.5 * hour)).edges.isEmpty)
            // Two hops from the device the repair was on: the repair, its fault.
            let two = try db.graphNeighbourhood(of: "devices:1", depth: 2, asOf: Timestamp(t0 + 6 * hour))
            #expect(two.entities == ["devices:1": 0, "faults:1": 1, "repairs:1": 1])
            // From the device the fault was moved to, to the repair of that fault, before and after.
            #expect(try db.graphPath(from: "devices:2", to: "repairs:1", asOf: Timestamp(t0 + 6.5 * hour)) == nil)
            let chain = try #require(try db.graphPath(from: "devices:2", to: "repairs:1", asOf: Timestamp(t0 + 8 * hour)))
            #expect(chain.map { "\($0.from) \($0.relation) \($0.to)" } == ["faults:1 AFFECTS devices:2", "repairs:1 REPAIRS faults:1"])
            let stats = try db.graphStats()
            #expect(stats.edges == 5 && stats.open == 3 && stats.entities == 5)
            // The whole log again: no edge changes.
            _ = try await db.watch(WatchRequest(paths: [try Self.copy(format, to: dir, as: "again.jsonl").path]))
            #expect(try Self.edges(db) == Self.expectedEdges)
            #expect { try db.graphNeighbourhood(of: "faults:1", depth: 0) } throws: { ($0 as? EngramError)?.code == .invalidArgument }
        }
    }

    @Test("a file truncated below what was applied is refused; following, the other files go on")
    func replacedFile() async throws {
        try await Self.withDatabase { db, dir in
            let a = dir.appendingPathComponent("a.jsonl"), b = dir.appendingPathComponent("b.jsonl")
            try #"{"id":"m1","text":"The first line of a long log."}"#.appending("\n").write(to: a, atomically: false, encoding: .utf8)
            _ = try await db.watch(WatchRequest(paths: [a.path]))
            try "{}\n".write(to: a, atomically: false, encoding: .utf8)
            try #"{"id":"m2","text":"Another log goes on."}"#.appending("\n").write(to: b, atomically: false, encoding: .utf8)
            await #expect { try await db.watch(WatchRequest(paths: [a.path, b.path])) } throws: {
                ($0 as? EngramError)?.code == .failedPrecondition && "\($0)".contains("was truncated")
            }
            let followed = try await db.watch(WatchRequest(paths: [a.path, b.path], follow: true))
            #expect(followed.sources.map { $0.error != nil } == [true, false] && followed.sources[1].applied == 1)
        }
    }

    @Test("a log rotated by renaming is read to its end before the new file, whose changes at low offsets are newer", arguments: [false, true])
    func rotation(directory: Bool) async throws {
        try await Self.withDatabase { db, dir in
            let logs = dir.appendingPathComponent("logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let log = logs.appendingPathComponent("app.jsonl"), rotated = logs.appendingPathComponent("app.jsonl.1")
            let watched = [directory ? logs.path : log.path]
            try (#"{"id":"m1","text":"Pump seven was installed."}"# + "\n" + #"{"id":"m2","text":"Valve three was ordered."}"# + "\n")
                .write(to: log, atomically: false, encoding: .utf8)
            #expect(try await db.watch(WatchRequest(paths: watched)).sources.map(\.applied) == [2])
            // A line lands, then the log is renamed and a new one started in its place.
            try Self.append(#"{"id":"m3","text":"Sensor four was calibrated."}"# + "\n", to: log)
            try FileManager.default.moveItem(at: log, to: rotated)
            try (#"{"id":"m1","text":"Pump seven was replaced."}"# + "\n" + #"{"id":"m2","op":"delete"}"# + "\n")
                .write(to: log, atomically: false, encoding: .utf8)
            let response = try await db.watch(WatchRequest(paths: watched))
            #expect(response.sources.map(\.path) == [rotated.path, log.path])
            #expect(response.sources.map(\.applied) == [1, 2])
            let texts = try Self.memories(db).mapValues(\.text)
            #expect(texts == ["m1": "Pump seven was replaced.", "m3": "Sensor four was calibrated."])
            // Nothing is applied twice; the status shows both files at their ends.
            let again = try await db.watch(WatchRequest(paths: watched))
            #expect(again.sources.allSatisfy { $0.applied == 0 && $0.lines == 0 })
            let status = try db.ingestStatus()
            #expect(Set(status.map(\.path)) == [rotated.path, log.path] && status.allSatisfy { $0.lagBytes == 0 })
        }
    }

    @Test("a torn last line waits until it is complete, then applies once")
    func tornLine() async throws {
        try await Self.withDatabase { db, dir in
            let file = dir.appendingPathComponent("log.jsonl")
            let line = #"{"id":"m1","text":"The compressor in Hall A was replaced.","time":1780000000}"#
            try Data(line.prefix(30).utf8).write(to: file)
            let torn = try await db.watch(WatchRequest(paths: [file.path], format: .engram))
            #expect(torn.sources.first?.lines == 0 && torn.sources.first?.offset == 0)
            #expect(db.count() == 0)
            try Self.append(String(line.dropFirst(30)) + "\n", to: file)
            let whole = try await db.watch(WatchRequest(paths: [file.path]))
            #expect(whole.sources.first?.applied == 1 && db.count() == 1)
            #expect(try db.get(GetRequest(id: "m1")).text == "The compressor in Hall A was replaced.")
        }
    }

    @Test("malformed complete lines become dead letters and the rest applies; --strict refuses them")
    func deadLetters() async throws {
        try await Self.withDatabase { db, dir in
            let file = dir.appendingPathComponent("log.jsonl")
            let lines = [
                #"{"id":"m1","text":"Pump PUMP-7 was serviced."}"#,
                #"{"id":"m2","text":"#,
                "[1,2,3]",
                #"{"id":"m3","text":"Valve VALVE-3 leaks again.","op":"explode"}"#,
                #"{"id":"m4","text":"The seal of VALVE-3 was replaced."}"#,
            ]
            try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: false, encoding: .utf8)
            let offsets = lines.indices.map { i in Int64(lines[..<i].reduce(0) { $0 + $1.utf8.count + 1 }) }
            let strictDir = dir.appendingPathComponent("strict.jsonl")
            try FileManager.default.copyItem(at: file, to: strictDir)
            await #expect { try await db.watch(WatchRequest(paths: [strictDir.path], strict: true, format: .engram)) } throws: {
                ($0 as? EngramError)?.reason == .deadLetter
            }
            #expect(db.count() == 0)
            let report = try await db.watch(WatchRequest(paths: [file.path], format: .engram))
            #expect(report.sources.first?.applied == 2 && report.sources.first?.deadLetters == 3)
            #expect(Set(try Self.memories(db).keys) == ["m1", "m4"])
            let letters = try db.deadLetters()
            #expect(letters.map(\.offset) == Array(offsets[1...3]) && letters.allSatisfy { $0.file == file.path })
            #expect(letters[0].error.contains("not valid JSON") && letters[1].error.contains("not a JSON object"))
            #expect(letters[2].error.contains("explode") && letters[2].line.contains("VALVE-3 leaks"))
            let status = try db.ingestStatus().first { $0.path == file.path }
            #expect(status?.applied == 2 && status?.deadLetters == 3 && status?.lagBytes == 0)
        }
    }

    @Test("a line longer than [ingest] max_line_bytes is a dead letter holding its first bytes; the lines after it apply")
    func oversizedLine() async throws {
        try await Self.withDatabase(settings: "[ingest]\nmax_line_bytes = 256\n") { db, dir in
            let file = dir.appendingPathComponent("log.jsonl")
            let long = #"{"id":"m2","text":""# + String(repeating: "a", count: 5000) + #""}"#
            let lines = [#"{"id":"m1","text":"Pump PUMP-7 was serviced."}"#, long, #"{"id":"m3","text":"Valve VALVE-3 was replaced."}"#]
            try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: false, encoding: .utf8)
            let report = try await db.watch(WatchRequest(paths: [file.path], format: .engram))
            #expect(report.sources.first?.applied == 2 && report.sources.first?.deadLetters == 1)
            #expect(Set(try Self.memories(db).keys) == ["m1", "m3"])
            let letter = try #require(try db.deadLetters().first)
            #expect(letter.offset == Int64(lines[0].utf8.count + 1) && letter.line == String(long.prefix(256)) + "…")
            #expect(letter.error == "the line is 5021 bytes long; [ingest] max_line_bytes is 256")
        }
    }

    @Test("a transaction applies wholly or not at all: without its commit it waits")
    func transactions() async throws {
        try await Self.withDatabase { db, dir in
            let file = dir.appendingPathComponent("wal.jsonl")
            let lines = try String(contentsOf: Self.samples.appendingPathComponent("wal2json-v2.jsonl"), encoding: .utf8)
                .split(separator: "\n").map(String.init)
            // Up to the transaction with the repair and the fault's closing, without its commit.
            let begin = try #require(lines.firstIndex { $0.contains(#""action":"B","xid":505"#) })
            try (lines[...(begin + 2)].joined(separator: "\n") + "\n").write(to: file, atomically: false, encoding: .utf8)
            let open = try await db.watch(WatchRequest(paths: [file.path]))
            #expect(open.sources.first?.waiting == true)
            #expect(try db.get(GetRequest(id: "faults:1")).meta["status"] == .string("open"))
            #expect(throws: EngramError.self) { try db.get(GetRequest(id: "repairs:1")) }
            try Self.append(lines[(begin + 3)...].joined(separator: "\n") + "\n", to: file)
            let rest = try await db.watch(WatchRequest(paths: [file.path]))
            #expect(rest.sources.first?.waiting == false)
            #expect(try db.get(GetRequest(id: "faults:1")).meta["status"] == .string("closed"))
            #expect(try db.get(GetRequest(id: "repairs:1")).meta["action"] == .string("regreased the bearing"))
            #expect(try Self.rows(db) == Self.expected())
        }
    }
}
