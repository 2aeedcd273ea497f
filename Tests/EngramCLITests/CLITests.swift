import EngramStore
import Foundation
import Testing

/// Runs the built `engram` binary (it sits next to the test bundle).
struct CLI {
    static let binDirectory: URL = {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // Swift Testing may run from inside the .xctest bundle on some platforms.
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("engram").path) && dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
        }
    }

    @discardableResult
    /// `environment`: variables set (a value) or removed (nil) for this run only.
    static func run(_ args: [String], binary: String = "engram", stdin: String? = nil,
                    environment: [String: String?] = [:], currentDirectory: URL? = nil) throws -> Result {
        let p = Process()
        p.executableURL = binDirectory.appendingPathComponent(binary)
        p.arguments = args
        if let currentDirectory { p.currentDirectoryURL = currentDirectory }
        if !environment.isEmpty {
            var env = ProcessInfo.processInfo.environment
            for (name, value) in environment { env[name] = value }
            p.environment = env
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        if let stdin {
            let input = Pipe()
            p.standardInput = input
            try p.run()
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }
}

func withTempDir<T>(_ body: (URL) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir)
}

@Suite("engram command lines")
struct CLITests {
    @Test("query --mode text and hybrid, --explain, --fusion; their option errors")
    func textQueries() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db").path
            #expect(try CLI.run(["init", "--db", db, "--dim", "3"]).status == 0)
            try CLI.run(["add", "--db", db, "--id", "a", "--text", "PUMP-7 leaks at the north gate", "--vector", "1,0,0"])
            try CLI.run(["add", "--db", db, "--id", "b", "--text", "the gate code is 4471", "--vector", "0,1,0"])
            try CLI.run(["add", "--db", db, "--id", "c", "--text", "lunch at noon", "--vector", "0.9,0.1,0"])
            // Text: only memories with a query term; an identifier and a number are found whole.
            let text = try CLI.run(["query", "--db", db, "--mode", "text", "--json", "pump-7"]).json
            #expect((text["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["a"])
            #expect(text["mode"] as? String == "text" && text["terms"] as? [String] == ["pump-7", "pump"])
            let number = try CLI.run(["query", "--db", db, "--mode", "text", "--json", "what is 4471"]).json
            let hit = (number["results"] as? [[String: Any]])?.first
            #expect(hit?["id"] as? String == "b" && (hit?["sources"] as? [String: Any])?["text"] != nil)
            // Hybrid with a given vector: both lists, shown by --explain.
            let hybrid = try CLI.run(["query", "--db", db, "--vector", "1,0,0", "--mode", "hybrid", "--fusion", "rrf", "--explain", "gate"])
            #expect(hybrid.status == 0, "\(hybrid.stderr)")
            // RRF: a is first by vector and second by text (b is shorter), 0.5·61/61 + 0.5·61/62.
            #expect(hybrid.stdout.contains(" 1. a  score 0.9919") && hybrid.stdout.contains("vector #1 cos 1.0000 · text #2 bm25"), "\(hybrid.stdout)")
            #expect(hybrid.stdout.contains(" 2. b ") && hybrid.stdout.contains("vector #3 cos 0.0000 · text #1 bm25"), "\(hybrid.stdout)")
            #expect(hybrid.stderr.contains("hybrid retrieval; terms: gate; plan: hybrid(rrf)"), "\(hybrid.stderr)")
            // Option errors.
            let noText = try CLI.run(["query", "--db", db, "--vector", "1,0,0", "--mode", "text"])
            #expect(noText.status != 0 && noText.stderr.contains("--mode text needs a query text"), "\(noText.stderr)")
            let badWeight = try CLI.run(["query", "--db", db, "--mode", "text", "--w-text", "2", "gate"])
            #expect(badWeight.status != 0 && badWeight.stderr.contains("--w-text must be between 0 and 1"), "\(badWeight.stderr)")
            let badMode = try CLI.run(["query", "--db", db, "--mode", "fuzzy", "gate"])
            #expect(badMode.status != 0 && badMode.stderr.contains("fuzzy"), "\(badMode.stderr)")
        }
    }

    @Test("init, add, get, query, delete, stats, check, export round trip")
    func roundTrip() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db").path
            #expect(try CLI.run(["init", "--db", db, "--dim", "3"]).status == 0)
            #expect(try CLI.run(["add", "--db", db, "--id", "a", "--text", "apple", "--vector", "1,0,0", "--tag", "fruit",
                                 "--meta", "colour=red", "--time", "2024-05-01T12:00:00Z", "--importance", "0.5"]).stdout == "a\n")
            try CLI.run(["add", "--db", db, "--id", "b", "--text", "banana", "--vector", "0.8,0.6,0", "--time", "1714000000"])
            try CLI.run(["add", "--db", db, "--id", "c", "--text", "cherry", "--vector", "0,0,1", "--ns", "other"])
            let got = try CLI.run(["get", "--db", db, "a", "--json"]).json
            #expect(got["text"] as? String == "apple" && got["time"] as? String == "2024-05-01T12:00:00Z")
            #expect((got["meta"] as? [String: Any])?["colour"] as? String == "red" && got["tags"] as? [String] == ["fruit"])

            let q = try CLI.run(["query", "--db", db, "--vector", "1,0.1,0", "--k", "2", "--json"])
            let results = q.json["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["id"] as? String } == ["a", "b"])
            #expect(q.json["tookMs"] is Double)
            for key in ["id", "score", "similarity", "recency", "importance", "text", "namespace", "tags", "meta", "time"] {
                #expect(results.first?[key] != nil, "query --json result lacks \(key)")
            }
            // Filters and explicit now.
            let filtered = try CLI.run(["query", "--db", db, "--vector", "1,0,0", "--ns", "other", "--json"]).json
            #expect((filtered["results"] as? [[String: Any]])?.map { $0["id"] as? String } == ["c"])
            let asOf = try CLI.run(["query", "--db", db, "--vector", "1,0,0", "--as-of", "2024-04-30T00:00:00Z", "--json"]).json
            #expect((asOf["results"] as? [[String: Any]])?.map { $0["id"] as? String } == ["b"])
            let decayed = try CLI.run(["query", "--db", db, "--vector", "0,0,1", "--w-sim", "0", "--w-time", "1",
                                       "--half-life", "30d", "--now", "2024-05-01T12:00:00Z", "--json"]).json
            let top = (decayed["results"] as? [[String: Any]])?.first
            #expect(top?["id"] as? String == "a" && abs((top?["recency"] as? Double ?? 0) - 1) < 1e-9)

            #expect(try CLI.run(["check", "--db", db]).status == 0)
            #expect(try CLI.run(["stats", "--db", db, "--json"]).json["memories"] as? Int == 3)
            let export = try CLI.run(["export", "--db", db]).stdout
            #expect(export.split(separator: "\n").count == 3)

            // Export → import into a new database gives the same records.
            let copy = dir.appendingPathComponent("copy").path
            try CLI.run(["init", "--db", copy, "--dim", "3"])
            let exportFile = dir.appendingPathComponent("export.jsonl")
            try export.write(to: exportFile, atomically: false, encoding: .utf8)
            #expect(try CLI.run(["import", "--db", copy, exportFile.path]).status == 0)
            let again = try CLI.run(["get", "--db", copy, "a", "--json"]).json
            #expect(again["text"] as? String == "apple" && again["importance"] as? Double == 0.5)

            #expect(try CLI.run(["delete", "--db", db, "a"]).status == 0)
            let after = try CLI.run(["query", "--db", db, "--vector", "1,0,0", "--json"]).json
            #expect(!((after["results"] as? [[String: Any]]) ?? []).contains { $0["id"] as? String == "a" })
            #expect(try CLI.run(["delete", "--db", db, "--ns", "other", "--all"]).stdout.contains("deleted 1"))
            #expect(try CLI.run(["check", "--db", db]).status == 0)
        }
    }

    @Test("bad input: clear errors, nothing acknowledged lost")
    func badInput() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db").path
            let notDb = try CLI.run(["get", "--db", dir.path, "x"])
            #expect(notDb.status != 0 && notDb.stderr.contains("not an Engram database"))
            try CLI.run(["init", "--db", db, "--dim", "3"])
            let again = try CLI.run(["init", "--db", db, "--dim", "3"])
            #expect(again.status != 0 && again.stderr.contains("already holds"))
            let wrongDim = try CLI.run(["add", "--db", db, "--id", "x", "--vector", "1,2"])
            #expect(wrongDim.status != 0 && wrongDim.stderr.contains("2 dimensions") && wrongDim.stderr.contains("stores 3"))
            let nan = try CLI.run(["add", "--db", db, "--id", "x", "--vector", "1,nan,2"])
            #expect(nan.status != 0 && nan.stderr.contains("NaN"))
            let unknown = try CLI.run(["get", "--db", db, "missing"])
            #expect(unknown.status != 0 && unknown.stderr.contains("no memory with id 'missing'"))
            #expect(try CLI.run(["delete", "--db", db, "missing"]).status != 0)
            let badTime = try CLI.run(["add", "--db", db, "--vector", "1,2,3", "--time", "yesterday"])
            #expect(badTime.status != 0 && badTime.stderr.contains("ISO 8601"))

            // A malformed line: its number is reported; earlier lines stay imported.
            var lines = (1...5).map { "{\"id\":\"l\($0)\",\"vector\":[1,\($0),0]}" }
            lines.insert("{\"id\":\"torn\",\"vector\":[1,", at: 3)
            let file = dir.appendingPathComponent("in.jsonl")
            try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: false, encoding: .utf8)
            let imported = try CLI.run(["import", "--db", db, "--batch", "2", file.path])
            #expect(imported.status != 0 && imported.stderr.contains("line 4"))
            #expect(try CLI.run(["stats", "--db", db, "--json"]).json["memories"] as? Int == 3)
            let skipping = try CLI.run(["import", "--db", db, "--skip-invalid", file.path])
            #expect(skipping.status == 0 && skipping.stderr.contains("skipped 1 invalid line"))
            #expect(try CLI.run(["stats", "--db", db, "--json"]).json["memories"] as? Int == 5)
            // Wrong dimension inside the file names the lines of the refused batch and the
            // memory; the batch before it (prepared and written first) stays imported.
            try ["{\"id\":\"w1\",\"vector\":[1,0,0]}", "{\"id\":\"w2\",\"vector\":[0,1,0]}", "{\"id\":\"w3\",\"vector\":[0,0,1]}",
                 "{\"id\":\"w4\",\"vector\":[1,2]}", "{\"id\":\"w5\",\"vector\":[1,1,0]}"].joined(separator: "\n")
                .appending("\n").write(to: file, atomically: false, encoding: .utf8)
            let wrong = try CLI.run(["import", "--db", db, "--batch", "2", file.path])
            #expect(wrong.status != 0 && wrong.stderr.contains("lines 3–4 were not imported: memory 'w4': vector has 2 dimensions")
                    && wrong.stderr.contains("2 memories from earlier lines are imported"), "\(wrong.stderr)")
            #expect(try CLI.run(["stats", "--db", db, "--json"]).json["memories"] as? Int == 7)
            #expect(try CLI.run(["get", "--db", db, "w2"]).status == 0)
            #expect(try CLI.run(["get", "--db", db, "w3"]).status != 0)

            // An oversized line is refused by the line limit, not read into memory whole.
            try ("{\"id\":\"long\",\"vector\":[" + Array(repeating: "1", count: 300).joined(separator: ",") + "]}\n")
                .write(to: file, atomically: false, encoding: .utf8)
            let long = try CLI.run(["import", "--db", db, "--max-line-bytes", "100", file.path])
            #expect(long.status != 0 && long.stderr.contains("line 1 is longer than 100 bytes"), "\(long.stderr)")

            // A second writer gets "database is in use"; readers still work.
            let holder = try MemoryStore.open(at: URL(fileURLWithPath: db))
            let busy = try CLI.run(["add", "--db", db, "--id", "y", "--vector", "1,2,3"])
            #expect(busy.status != 0 && busy.stderr.contains("database is in use"))
            #expect(try CLI.run(["get", "--db", db, "l1"]).status == 0)
            try holder.close()
            #expect(try CLI.run(["add", "--db", db, "--id", "y", "--vector", "1,2,3"]).status == 0)
        }
    }

    @Test("help explains every command")
    func help() throws {
        let top = try CLI.run(["--help"])
        for command in ["init", "add", "import", "get", "delete", "query", "stats", "check", "compact", "export"] {
            #expect(top.stdout.contains(command))
            let sub = try CLI.run([command, "--help"])
            #expect(sub.status == 0 && sub.stdout.contains("--db"), "\(command) --help")
        }
    }

    @Test("SIGKILL during transactions over several column families leaves each whole or absent (3 trials)")
    func atomicCrash() throws {
        let result = try CLI.run(["--atomic", "--trials", "3", "--records", "2000"], binary: "engram-crashtest")
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("atomic trials: 3, failed: 0"), "\(result.stdout)")
    }

    @Test("SIGKILL during import loses nothing acknowledged (3 trials)")
    func crash() throws {
        let result = try CLI.run(["--trials", "3", "--records", "30000"], binary: "engram-crashtest")
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("lost acknowledged: 0, mismatches: 0, trials: 3"))
    }
}

@Suite("engram check")
struct CheckCommandTests {
    @Test("an index snapshot that does not match what it claims to cover is rebuilt, never trusted")
    func staleSnapshot() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db")
            try CLI.run(["init", "--db", db.path, "--dim", "3", "--index", "flat"])
            let lines = (1...20).map { "{\"id\":\"m\($0)\",\"vector\":[1,\($0),0]}" }
            let file = dir.appendingPathComponent("in.jsonl")
            try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: false, encoding: .utf8)
            try CLI.run(["import", "--db", db.path, file.path])
            // Closing after small writes leaves the changes to be replayed; compact snapshots.
            #expect(try CLI.run(["compact", "--db", db.path]).status == 0)
            let index = db.appendingPathComponent("index")
            let oldSnapshot = try #require(try FileManager.default.contentsOfDirectory(atPath: index.path).first)
            let saved = try Data(contentsOf: index.appendingPathComponent(oldSnapshot))
            #expect(try CLI.run(["delete", "--db", db.path, "m1", "m2", "m3"]).status == 0)
            #expect(try CLI.run(["compact", "--db", db.path]).status == 0)
            // Put the old index back under the new snapshot's name: it still holds m1–m3 but
            // claims to cover their deletion. Its own header says otherwise: it is rebuilt.
            let newSnapshot = try #require(try FileManager.default.contentsOfDirectory(atPath: index.path).first)
            #expect(newSnapshot != oldSnapshot)
            try saved.write(to: index.appendingPathComponent(newSnapshot))
            let check = try CLI.run(["check", "--db", db.path, "--json", "--verbose"])
            #expect(check.status == 0 && check.json["ok"] as? Bool == true, "\(check.stdout)")
            #expect(check.stderr.contains("ignoring index snapshot \(newSnapshot)"), "\(check.stderr)")
            // Deleted memories are never returned.
            let q = try CLI.run(["query", "--db", db.path, "--vector", "1,1,0", "--k", "20", "--json"]).json
            let ids = (q["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            #expect(ids.count == 17 && !ids.contains("m1") && !ids.contains("m2") && !ids.contains("m3"))
        }
    }

    @Test("check reports a stored vector that is damaged, and exits 1")
    func damagedVector() throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db")
            try CLI.run(["init", "--db", db.path, "--dim", "3", "--index", "flat"])
            for i in 1...3 { try CLI.run(["add", "--db", db.path, "--id", "m\(i)", "--vector", "1,\(i),0"]) }
            #expect(try CLI.run(["check", "--db", db.path]).status == 0)
            // Row 1 (m2's label) of the vector file gets a NaN.
            let vectors = try FileHandle(forUpdating: db.appendingPathComponent("vectors.f32"))
            try vectors.seek(toOffset: 12)
            try vectors.write(contentsOf: withUnsafeBytes(of: Float.nan) { Data($0) })
            try vectors.close()
            let check = try CLI.run(["check", "--db", db.path, "--json"])
            #expect(check.status == 1)
            #expect(check.json["ok"] as? Bool == false && check.json["inconsistentRecords"] as? [String] == ["m2"], "\(check.stdout)")
        }
    }
}
