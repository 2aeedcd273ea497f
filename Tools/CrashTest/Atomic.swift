// The atomic-write crash test: a child process commits transactions that each write a memory
// and a key in two other column families, and is killed with SIGKILL in the middle; after a
// reopen every transaction must be there whole or not at all, and every acknowledged one
// must be there.
import EngramBase
import EngramStore
import Foundation

enum AtomicCrash {
    static let registration = MemoryStore.Registration(columnFamilies: ["left", "right"])
    static let dimension = 16

    static func key(_ i: Int) -> [UInt8] { Array(String(format: "%08d", i).utf8) }
    static func vector(_ i: Int) -> [Float] { (0..<dimension).map { Float(($0 * 7 + i) % 13) - 6.5 } }

    /// The child: commits transaction i = 1, 2, … and prints `ack i` after each.
    static func writer(_ path: String, count: Int) -> Never {
        do {
            let dir = URL(fileURLWithPath: path)
            let store = FileManager.default.fileExists(atPath: dir.appendingPathComponent("engram.toml").path)
                ? try MemoryStore.open(at: dir, registration: registration)
                : try MemoryStore.create(at: dir, settings: StoreSettings(dimension: dimension, index: .flat),
                                         registration: registration)
            for i in 1...count {
                try store.write { tx in
                    try tx.upsert([NewMemory(id: "m\(i)", vector: vector(i))])
                    try tx.put("left", key: key(i), value: Array("l\(i)".utf8))
                    try tx.put("right", key: key(i), value: Array("r\(i)".utf8))
                }
                FileHandle.standardOutput.write(Data("ack \(i)\n".utf8))
            }
            try store.close()
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("writer: \(error)\n".utf8))
            exit(1)
        }
    }

    /// One trial: start the writer, kill it after `killAfter` acknowledgements, then check.
    /// Returns (acknowledged, problems found).
    static func trial(engramCrashtest: String, directory: URL, killAfter: Int, total: Int) throws -> (Int, [String]) {
        let killed = try KilledChild.run(engramCrashtest, ["--atomic-writer", directory.path, "--records", "\(total)"],
                                         killAfter: killAfter)
        let acked = killed.highest
        var problems: [String] = []
        if !killed.killedBySignal || acked == 0 || acked >= total {
            problems.append("the writer was not killed in flight (\(acked) of \(total) acknowledged)")
        }
        let store = try MemoryStore.open(at: directory, registration: registration)
        defer { try? store.close() }
        let found: [(memory: Bool, left: Bool, right: Bool)] = try store.write { tx in
            try (1...total).map { i in
                (try tx.memory("m\(i)") != nil, try tx.get("left", key: key(i)) != nil, try tx.get("right", key: key(i)) != nil)
            }
        }
        for (index, parts) in found.enumerated() {
            let i = index + 1
            let all = parts.memory && parts.left && parts.right, none = !parts.memory && !parts.left && !parts.right
            if !all && !none { problems.append("transaction \(i) is partly there: \(parts)") }
            if i <= acked && !all { problems.append("acknowledged transaction \(i) is missing") }
        }
        if !(try store.check().ok) { problems.append("check failed") }
        return (acked, problems)
    }
}
