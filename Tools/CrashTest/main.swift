// Crash test: a child `engram import --ack-lines` is killed with SIGKILL at a random moment;
// then the database must open, `engram check` must pass, and every line the child had
// acknowledged must be stored exactly as written. Prints
//   lost acknowledged: L, mismatches: M, trials: N
// and exits 1 if L or M is not zero.
//
// Usage: engram-crashtest [--trials N] [--records N] [--dim D] [--seed S] [--engram PATH]
import Foundation

struct Options {
    var trials = 3
    var records = 40_000
    var dimension = 64
    var seed: UInt64 = UInt64(Date().timeIntervalSince1970)
    var engram: String = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("engram").path

    init() {
        let args = CommandLine.arguments
        var i = 1
        while i < args.count {
            let value = i + 1 < args.count ? args[i + 1] : ""
            switch args[i] {
            case "--trials": trials = Int(value) ?? trials
            case "--records": records = Int(value) ?? records
            case "--dim": dimension = Int(value) ?? dimension
            case "--seed": seed = UInt64(value) ?? seed
            case "--engram": engram = value
            default:
                print("usage: engram-crashtest [--trials N] [--records N] [--dim D] [--seed S] [--engram PATH]")
                exit(args[i] == "--help" || args[i] == "-h" ? 0 : 2)
            }
            i += 2
        }
    }
}

struct Rng: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs a command to completion; returns (status, stdout).
func run(_ path: String, _ args: [String]) throws -> (Int32, Data) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, data)
}

let o = Options()
guard FileManager.default.isExecutableFile(atPath: o.engram) else {
    print("engram-crashtest: no engram binary at \(o.engram) (build it, or pass --engram PATH)")
    exit(2)
}
var rng = Rng(state: o.seed)
let work = FileManager.default.temporaryDirectory.appendingPathComponent("engram-crash-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: work) }

// The input: record i has id "r<i>", text "text <i>", and a vector derived from i.
var expected: [String: (text: String, vector: [Float])] = [:]
var lines = ""
for i in 1...o.records {
    let v = (0..<o.dimension).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
    let id = "r\(i)"
    expected[id] = ("text \(i)", v)
    lines += "{\"id\":\"\(id)\",\"text\":\"text \(i)\",\"vector\":[\(v.map { String($0) }.joined(separator: ","))],\"time\":\(1_700_000_000 + i)}\n"
}
let input = work.appendingPathComponent("input.jsonl")
try lines.write(to: input, atomically: true, encoding: .utf8)
let ids = (1...o.records).map { "r\($0)" }

var lost = 0, mismatches = 0
for trial in 1...o.trials {
    let db = work.appendingPathComponent("db\(trial)").path
    _ = try run(o.engram, ["init", "--db", db, "--dim", "\(o.dimension)", "--index", "auto"])
    let child = Process()
    child.executableURL = URL(fileURLWithPath: o.engram)
    child.arguments = ["import", "--db", db, "--ack-lines", "--no-progress", "--batch", "\(100 + Int(rng.next() % 900))", input.path]
    let out = Pipe()
    child.standardOutput = out
    child.standardError = FileHandle.nullDevice
    try child.run()
    let delay = 0.2 + Double(rng.next() % 2800) / 1000
    Thread.sleep(forTimeInterval: delay)
    kill(child.processIdentifier, SIGKILL)
    child.waitUntilExit()
    let acks = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        .split(separator: "\n").compactMap { $0.hasPrefix("ack ") ? Int($0.dropFirst(4)) : nil }
    let acked = acks.max() ?? 0

    let (checkStatus, checkOut) = try run(o.engram, ["check", "--db", db, "--json"])
    if checkStatus != 0 {
        print("trial \(trial): check failed after kill at \(String(format: "%.2f", delay)) s: \(String(decoding: checkOut, as: UTF8.self))")
        mismatches += 1
    }
    let (_, exported) = try run(o.engram, ["export", "--db", db])
    var stored: [String: (String, [Float])] = [:]
    for line in exported.split(separator: 0x0A) {
        guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let id = object["id"] as? String, let text = object["text"] as? String,
              let vector = object["vector"] as? [Double] else { mismatches += 1; continue }
        stored[id] = (text, vector.map { Float($0) })
    }
    var trialLost = 0, trialMismatch = 0
    for id in ids.prefix(acked) {
        guard let (text, vector) = stored[id] else { trialLost += 1; continue }
        let want = expected[id]!
        let norm = want.vector.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        let same = text == want.text && zip(vector, want.vector).allSatisfy { abs($0 - $1 / norm) < 1e-5 }
        if !same { trialMismatch += 1 }
    }
    // Nothing may appear that was never written.
    trialMismatch += stored.keys.filter { expected[$0] == nil }.count
    lost += trialLost
    mismatches += trialMismatch
    print("trial \(trial): killed after \(String(format: "%.2f", delay)) s, \(acked) lines acknowledged, \(stored.count) stored, lost \(trialLost), mismatches \(trialMismatch)")
}
print("lost acknowledged: \(lost), mismatches: \(mismatches), trials: \(o.trials)")
exit(lost == 0 && mismatches == 0 ? 0 : 1)
