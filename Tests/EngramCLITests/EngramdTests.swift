import Foundation
import Testing

/// `engramd` as a process: following a growing log, stopping on SIGTERM, and surviving SIGKILL
/// at random moments with the same final store as an uninterrupted run.
@Suite("engramd")
struct EngramdTests {
    /// `count` Engram change lines over `ids` memories (4-dimensional vectors given, so no
    /// embedding): upserts, and a delete every seventh line.
    static func log(count: Int, ids: Int, seed: UInt64) -> String {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var lines: [String] = []
        for seq in 1...count {
            let id = "m\(next() % UInt64(ids))"
            if seq % 7 == 0 {
                lines.append(#"{"seq":\#(seq),"id":"\#(id)","op":"delete"}"#)
            } else {
                let v = (0..<4).map { _ in String(format: "%.3f", Double(next() % 2000) / 1000 - 1) }.joined(separator: ",")
                lines.append(#"{"seq":\#(seq),"id":"\#(id)","text":"version \#(seq) of \#(id)","vector":[\#(v)],"meta":{"seq":\#(seq)}}"#)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func database(_ dir: URL, _ name: String, batch: Int) throws -> String {
        let db = dir.appendingPathComponent(name).path
        #expect(try CLI.run(["init", "--db", db, "--dim", "4"]).status == 0)
        let toml = URL(fileURLWithPath: db).appendingPathComponent("engram.toml")
        try (String(contentsOf: toml, encoding: .utf8) + "\n[ingest]\nbatch_changes = \(batch)\n").write(to: toml, atomically: true, encoding: .utf8)
        return db
    }

    /// Each memory's id, text, meta and vector, as `export` prints them.
    static func contents(_ db: String) throws -> [String: String] {
        let out = try CLI.run(["export", "--db", db])
        var rows: [String: String] = [:]
        for line in out.stdout.split(separator: "\n") {
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let id = o["id"] as? String else { continue }
            rows[id] = "\(o["text"] ?? "") \(o["meta"] ?? "") \(o["vector"] ?? "")"
        }
        return rows
    }

    static func start(_ db: String, _ logs: URL, pollMilliseconds: Int = 20) throws -> Process {
        let p = Process()
        p.executableURL = CLI.binDirectory.appendingPathComponent("engramd")
        p.arguments = ["--db", db, "--watch", logs.path, "--poll-ms", String(pollMilliseconds)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits until `engram ingest status` shows every watched file applied to its end.
    static func waitCaughtUp(_ db: String, files: Int, timeout: Double = 60) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let status = try CLI.run(["ingest", "status", "--db", db, "--json"])
            if status.status == 0, let sources = try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]],
               sources.count == files, sources.allSatisfy({ ($0["lagBytes"] as? Int) == 0 }) {
                return true
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    @Test("follows a log as it grows, including new files, and stops on SIGTERM with exit status 0")
    func follows() throws {
        try withTempDir { dir in
            let logs = dir.appendingPathComponent("logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let text = Self.log(count: 300, ids: 40, seed: 7)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let db = try Self.database(dir, "db", batch: 1000)
            let reference = try Self.database(dir, "reference", batch: 1000)
            try text.write(to: dir.appendingPathComponent("all.jsonl"), atomically: false, encoding: .utf8)
            #expect(try CLI.run(["watch", "--db", reference, dir.appendingPathComponent("all.jsonl").path]).status == 0)

            try (lines[..<100].joined(separator: "\n") + "\n").write(to: logs.appendingPathComponent("a.jsonl"), atomically: false, encoding: .utf8)
            let daemon = try Self.start(db, logs)
            #expect(try Self.waitCaughtUp(db, files: 1))
            // More lines, and a second file.
            let handle = try FileHandle(forWritingTo: logs.appendingPathComponent("a.jsonl"))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data((lines[100..<200].joined(separator: "\n") + "\n").utf8))
            try handle.close()
            try (lines[200...].joined(separator: "\n")).write(to: logs.appendingPathComponent("b.jsonl"), atomically: false, encoding: .utf8)
            #expect(try Self.waitCaughtUp(db, files: 2))
            daemon.terminate()
            daemon.waitUntilExit()
            #expect(daemon.terminationStatus == 0 && daemon.terminationReason == .exit)
            #expect(try Self.contents(db) == Self.contents(reference))
        }
    }

    @Test("a change in the watched directory wakes it long before its poll; a log rotated under it is read to its end before the new file")
    func wakesAndRotates() throws {
        try withTempDir { dir in
            let logs = dir.appendingPathComponent("logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let lines = Self.log(count: 90, ids: 20, seed: 11).split(separator: "\n").map { $0 + "\n" }
            let db = try Self.database(dir, "db", batch: 1000)
            let reference = try Self.database(dir, "reference", batch: 1000)
            try lines.joined().write(to: dir.appendingPathComponent("all.jsonl"), atomically: false, encoding: .utf8)
            #expect(try CLI.run(["watch", "--db", reference, dir.appendingPathComponent("all.jsonl").path]).status == 0)

            let log = logs.appendingPathComponent("app.jsonl")
            try lines[..<30].joined().write(to: log, atomically: false, encoding: .utf8)
            // A poll of a minute: only the change signal can make it look again within the test.
            let daemon = try Self.start(db, logs, pollMilliseconds: 60_000)
            defer { if daemon.isRunning { daemon.terminate(); daemon.waitUntilExit() } }
            #expect(try Self.waitCaughtUp(db, files: 1, timeout: 20))
            let handle = try FileHandle(forWritingTo: log)
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(lines[30..<60].joined().utf8))
            try handle.close()
            // Renamed, and a new log in its place: the rest of the old one comes first.
            try FileManager.default.moveItem(at: log, to: logs.appendingPathComponent("app.jsonl.1"))
            try lines[60...].joined().write(to: log, atomically: false, encoding: .utf8)
            #expect(try Self.waitCaughtUp(db, files: 2, timeout: 20))
            daemon.terminate()
            daemon.waitUntilExit()
            #expect(daemon.terminationStatus == 0)
            #expect(try Self.contents(db) == Self.contents(reference))
        }
    }

    @Test("killed with SIGKILL at random moments, then restarted, it ends with the store of an uninterrupted run")
    func crashes() throws {
        let seed = UInt64(Date().timeIntervalSince1970 * 1000) % 1_000_000
        print("EngramdTests.crashes seed \(seed)")
        var random = seed
        func nextDelay() -> Double {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return 0.05 + Double((random >> 33) % 400) / 1000
        }
        try withTempDir { dir in
            let text = Self.log(count: 4000, ids: 300, seed: seed)
            let all = dir.appendingPathComponent("all.jsonl")
            try text.write(to: all, atomically: false, encoding: .utf8)
            let reference = try Self.database(dir, "reference", batch: 1000)
            #expect(try CLI.run(["watch", "--db", reference, all.path]).status == 0)
            let expected = try Self.contents(reference)
            #expect(expected.count > 100)

            for trial in 1...3 {
                let logs = dir.appendingPathComponent("logs-\(trial)")
                try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: all, to: logs.appendingPathComponent("log.jsonl"))
                // Small batches: many writes for a kill to fall between or inside.
                let db = try Self.database(dir, "db-\(trial)", batch: 25)
                var kills = 0
                while kills < 4 {
                    let daemon = try Self.start(db, logs)
                    Thread.sleep(forTimeInterval: nextDelay())
                    kill(daemon.processIdentifier, SIGKILL)
                    daemon.waitUntilExit()
                    kills += 1
                }
                let daemon = try Self.start(db, logs)
                #expect(try Self.waitCaughtUp(db, files: 1), "trial \(trial) did not catch up")
                daemon.terminate()
                daemon.waitUntilExit()
                let got = try Self.contents(db)
                #expect(got == expected, "trial \(trial) (seed \(seed)): \(got.count) memories, \(expected.count) expected")
            }
        }
    }
}
