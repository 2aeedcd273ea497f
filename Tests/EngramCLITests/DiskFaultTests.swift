import Foundation
import Testing

/// Mounts a small tmpfs for the closure (root only: these tests need `mount`).
func withTmpfs<T>(megabytes: Int, _ body: (URL) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-fs-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try shell("mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", dir.path)
    defer { _ = try? shell("umount", "-l", dir.path) }
    return try body(dir)
}

@discardableResult
func shell(_ args: String...) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    return p.terminationStatus
}

let canMount: Bool = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/mount")

@Suite("Disk faults", .enabled(if: canMount, "needs root to mount a small tmpfs"))
struct DiskFaultTests {
    @Test("a full disk stops the import with a clear error; everything acknowledged stays")
    func fullDisk() throws {
        try withTmpfs(megabytes: 24) { fs in
            let db = fs.appendingPathComponent("db").path
            #expect(try CLI.run(["init", "--db", db, "--dim", "384"]).status == 0)
            // ~6 KB a line; far more than fits.
            let big = (0..<384).map { _ in String(format: "%.6f", Double.random(in: -1...1)) }.joined(separator: ",")
            let lines = (1...8000).map { "{\"id\":\"f\($0)\",\"text\":\"\(String(repeating: "x", count: 2000))\",\"vector\":[\(big)]}" }
            let input = FileManager.default.temporaryDirectory.appendingPathComponent("full-\(UUID().uuidString).jsonl")
            try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: false, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: input) }
            let result = try CLI.run(["import", "--db", db, "--batch", "200", "--ack-lines", input.path])
            #expect(result.status != 0)
            #expect(result.stderr.lowercased().contains("full") || result.stderr.contains("No space"), "\(result.stderr)")
            let acked = result.stdout.split(separator: "\n").compactMap { Int($0.dropFirst(4)) }.max() ?? 0
            #expect(acked > 0)
            // With the disk still full, the database opens, agrees with its index, and holds
            // everything acknowledged.
            let check = try CLI.run(["check", "--db", db])
            #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
            for id in [1, acked / 2, acked] {
                #expect(try CLI.run(["get", "--db", db, "f\(id)", "--no-vector"]).status == 0, "f\(id) lost")
            }
        }
    }

    @Test("a read-only file system: writes fail clearly, reads work")
    func readOnly() throws {
        try withTmpfs(megabytes: 16) { fs in
            let db = fs.appendingPathComponent("db").path
            try CLI.run(["init", "--db", db, "--dim", "3"])
            try CLI.run(["add", "--db", db, "--id", "a", "--vector", "1,0,0"])
            try shell("mount", "-o", "remount,ro", fs.path)
            let add = try CLI.run(["add", "--db", db, "--id", "b", "--vector", "0,1,0"])
            #expect(add.status != 0 && add.stderr.contains("Read-only file system"), "\(add.stderr)")
            let get = try CLI.run(["get", "--db", db, "a"])
            #expect(get.status == 0, "\(get.stderr)")
        }
    }
}
