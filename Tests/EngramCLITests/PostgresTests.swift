import Foundation
import Testing

/// A real upstream: PostgreSQL 15 with wal2json (Debian's postgresql-15 and
/// postgresql-15-wal2json, which Tools/test.sh installs), a throwaway cluster on a loopback
/// port with `wal_level = logical`, `pg_recvlogical` streaming wal2json format 2 into a file,
/// and `engramd` following that file.
@Suite("Following PostgreSQL through wal2json")
struct PostgresTests {
    static let bin = "/usr/lib/postgresql/15/bin"

    /// Runs `command` as the `postgres` user (PostgreSQL refuses to run as root), through
    /// `system`: a server that `pg_ctl` starts inherits its parent's descriptors, and
    /// Foundation's `Process` would wait on them for as long as the server runs.
    @discardableResult
    static func asPostgres(_ command: [String], check: Bool = true) throws -> CLI.Result {
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("pg-out-\(UUID().uuidString)")
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("pg-err-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        let prefix = getuid() == 0 ? "/usr/sbin/runuser -u postgres -- " : ""
        let line = prefix + command.map(quoted).joined(separator: " ") + " >\(quoted(out.path)) 2>\(quoted(err.path)) </dev/null"
        let raw = system(line)
        let status = raw == -1 ? -1 : (raw >> 8) & 0xFF
        let result = CLI.Result(status: Int32(status), stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                                stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        if check && result.status != 0 {
            throw CLIError("\(command.joined(separator: " ")) failed (\(result.status)): \(result.stderr)")
        }
        return result
    }

    struct CLIError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    @Test("inserts, updates, deletes and a multi-statement transaction in PostgreSQL end up in Engram")
    func followsPostgres() throws {
        for path in ["\(Self.bin)/initdb", "\(Self.bin)/pg_ctl", "\(Self.bin)/pg_recvlogical", "/usr/lib/postgresql/15/lib/wal2json.so"] {
            try #require(FileManager.default.fileExists(atPath: path), "missing \(path): Tools/test.sh installs postgresql-15 and postgresql-15-wal2json")
        }
        let dir = URL(fileURLWithPath: "/tmp/engram-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("pg"), logs = dir.appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        if getuid() == 0 {
            let chown = Process()
            chown.executableURL = URL(fileURLWithPath: "/bin/chown")
            chown.arguments = ["-R", "postgres:postgres", dir.path]
            try chown.run()
            chown.waitUntilExit()
        }
        let port = String(55_000 + Int.random(in: 0..<5_000))
        print("PostgresTests: cluster in \(data.path), port \(port)")
        try Self.asPostgres(["\(Self.bin)/initdb", "-D", data.path, "-A", "trust", "-U", "postgres", "--no-sync"])
        try """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(dir.path)'
            wal_level = logical
            max_replication_slots = 4
            max_wal_senders = 4
            fsync = off

            """.write(to: data.appendingPathComponent("postgresql.auto.conf"), atomically: false, encoding: .utf8)
        try Self.asPostgres(["\(Self.bin)/pg_ctl", "-D", data.path, "-l", dir.appendingPathComponent("server.log").path, "-w", "start"])
        defer { _ = try? Self.asPostgres(["\(Self.bin)/pg_ctl", "-D", data.path, "-m", "immediate", "stop"], check: false) }
        func sql(_ statements: String) throws {
            try Self.asPostgres(["/usr/bin/psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", statements])
        }
        try sql("CREATE TABLE faults (id int PRIMARY KEY, device text, symptom text, cause text, status text)")
        try Self.asPostgres(["\(Self.bin)/pg_recvlogical", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres",
                             "--slot", "engram", "--create-slot", "--plugin", "wal2json"])
        let stream = Process()
        stream.executableURL = URL(fileURLWithPath: getuid() == 0 ? "/usr/sbin/runuser" : "\(Self.bin)/pg_recvlogical")
        stream.arguments = (getuid() == 0 ? ["-u", "postgres", "--", "\(Self.bin)/pg_recvlogical"] : []) + [
            "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres", "--slot", "engram", "--start", "-F", "1",
            "-o", "format-version=2", "-o", "include-lsn=true", "-o", "include-pk=true", "-o", "include-xids=true",
            "-o", "include-timestamp=true", "-f", logs.appendingPathComponent("wal.jsonl").path,
        ]
        try stream.run()
        defer { stream.terminate(); stream.waitUntilExit() }

        let db = dir.appendingPathComponent("engram.db").path
        #expect(try CLI.run(["init", "--db", db]).status == 0)
        let toml = URL(fileURLWithPath: db).appendingPathComponent("engram.toml")
        try (String(contentsOf: toml, encoding: .utf8) + """

            [ingest.tables.faults]
            text = "{device}: {symptom}. Cause: {cause}"
            meta = ["device", "status"]

            """).write(to: toml, atomically: true, encoding: .utf8)
        let daemon = Process()
        daemon.executableURL = CLI.binDirectory.appendingPathComponent("engramd")
        daemon.arguments = ["--db", db, "--watch", logs.path, "--poll-ms", "50"]
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()

        try sql("INSERT INTO faults VALUES (1, 'PUMP-7', 'overheating', NULL, 'open'), (2, 'VALVE-3', 'leak', NULL, 'open'), (3, 'FAN-2', 'noise', NULL, 'open')")
        try sql("UPDATE faults SET cause = 'dry bearing' WHERE id = 1")
        try sql("DELETE FROM faults WHERE id = 3")
        try sql("BEGIN; INSERT INTO faults VALUES (4, 'PUMP-7', 'vibration', 'loose mount', 'open'); UPDATE faults SET status = 'closed' WHERE id = 1; COMMIT")

        // What the table holds now, as memories.
        let expected: [String: String] = [
            "faults:1": "PUMP-7: overheating. Cause: dry bearing|closed",
            "faults:2": "VALVE-3: leak. Cause: |open",
            "faults:4": "PUMP-7: vibration. Cause: loose mount|open",
        ]
        var got: [String: String] = [:]
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            got = [:]
            let out = try CLI.run(["export", "--db", db, "--no-vector"])
            for line in out.stdout.split(separator: "\n") {
                guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let id = o["id"] as? String else { continue }
                got[id] = "\(o["text"] as? String ?? "")|\((o["meta"] as? [String: Any])?["status"] as? String ?? "")"
            }
            if got == expected { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        daemon.terminate()
        daemon.waitUntilExit()
        #expect(got == expected)
        #expect(daemon.terminationStatus == 0)
        let status = try CLI.run(["ingest", "status", "--db", db, "--json"])
        let sources = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(sources.first?["format"] as? String == "wal2json" && sources.first?["deadLetters"] as? Int == 0)
    }
}
