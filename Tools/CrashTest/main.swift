// Crash test: a child `engram import --ack-lines` is killed with SIGKILL in the middle of its
// work; then the database must open, `engram check` must pass, and every line the child had
// acknowledged must be stored exactly as written (its newest acknowledged version, or a newer
// one from the batch in flight). The database is set to snapshot its index
// every 1,000 changes and to switch to IVF at 2,000 memories, so kills land during background
// snapshots, rebuilds and swaps as well as during writes. Each trial kills after a random
// number of acknowledged batches (so the import is really in flight: 0 < acknowledged <
// total) plus a random delay, and prints what it did. Prints
//   lost acknowledged: L, mismatches: M, trials: N
// and exits 1 if L or M is not zero, or if a trial did not kill an import in flight.
//
// With --atomic, each trial instead kills a process that commits transactions writing a memory
// and keys in two other column families (see Atomic.swift), and checks that every
// transaction is there whole or not at all.
//
// Usage: engram-crashtest [--atomic] [--trials N] [--records N] [--dim D] [--seed S] [--engram PATH]
import EngramBase
import Foundation

struct Options {
    var trials = 3
    var records = 40_000
    var dimension = 64
    var seed: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000) & 0xFFFF_FFFF
    var engram: String = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("engram").path
    var atomic = false
    /// Set in the child of an atomic trial: the database to write.
    var atomicWriter: String?

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
            case "--atomic": atomic = true; i -= 1
            case "--atomic-writer": atomicWriter = value
            default:
                print("usage: engram-crashtest [--atomic] [--trials N] [--records N] [--dim D] [--seed S] [--engram PATH]")
                exit(args[i] == "--help" || args[i] == "-h" ? 0 : 2)
            }
            i += 2
        }
        guard trials >= 1, records >= 1000, dimension >= 2 else {
            print("engram-crashtest: --trials must be at least 1, --records at least 1000, --dim at least 2")
            exit(2)
        }
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

BLASCore.correctIfNeeded()
let o = Options()
if let path = o.atomicWriter { AtomicCrash.writer(path, count: o.records) }
guard o.atomic || FileManager.default.isExecutableFile(atPath: o.engram) else {
    print("engram-crashtest: no engram binary at \(o.engram) (build it, or pass --engram PATH)")
    exit(2)
}
print("engram-crashtest: seed \(o.seed) (replay with --seed \(o.seed)), \(o.trials) trials of \(o.records) records")
var rng = SeededRandom(seed: o.seed)
let work = FileManager.default.temporaryDirectory.appendingPathComponent("engram-crash-\(o.seed)-\(getpid())")
try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)

/// Removes the work folder and exits (a top-level `defer` would not run before `exit`).
func finish(_ status: Int32) -> Never {
    try? FileManager.default.removeItem(at: work)
    exit(status)
}

if o.atomic {
    let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
    var failures = 0
    for trial in 1...o.trials {
        let killAfter = 1 + Int(rng.next() % UInt64(max(1, o.records * 3 / 4)))
        let dir = work.appendingPathComponent("atomic\(trial)")
        let (acked, problems) = try AtomicCrash.trial(engramCrashtest: me, directory: dir, killAfter: killAfter, total: o.records)
        print("atomic trial \(trial): killed after \(acked) acknowledged transactions: \(problems.isEmpty ? "all whole or absent" : problems.prefix(3).joined(separator: "; "))")
        if !problems.isEmpty { failures += 1 }
        try? FileManager.default.removeItem(at: dir)
    }
    print("atomic trials: \(o.trials), failed: \(failures)")
    finish(failures == 0 ? 0 : 1)
}

// The input: line i has text "text <i> word<i mod 97> …" (so that replacements move postings
// between full-text blocks, and `engram check` verifies the full-text index after each kill)
// and a vector derived from i; it writes a new id
// "r<i>", or, for one line in four after the first 2,000, replaces an earlier id, so that
// memories die and rebuilds free their labels for reuse while the import runs.
struct Version { let line: Int; let text: String; let vector: [Float] }
var versions: [String: [Version]] = [:]
var lines = ""
var written: [String] = []
for i in 1...o.records {
    let v = (0..<o.dimension).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
    let replaces = i > 2000 && rng.next() % 4 == 0
    let id = replaces ? written[Int(rng.next() % UInt64(written.count))] : "r\(i)"
    if !replaces { written.append(id) }
    let text = "text \(i) word\(i % 97) PUMP-\(i % 13)"
    versions[id, default: []].append(Version(line: i, text: text, vector: v))
    lines += "{\"id\":\"\(id)\",\"text\":\"\(text)\",\"vector\":[\(v.map { String($0) }.joined(separator: ","))],\"time\":\(1_700_000_000 + i)}\n"
}
let input = work.appendingPathComponent("input.jsonl")
try lines.write(to: input, atomically: false, encoding: .utf8)

var lost = 0, mismatches = 0, notInFlight = 0
for trial in 1...o.trials {
    let db = work.appendingPathComponent("db\(trial)")
    _ = try run(o.engram, ["init", "--db", db.path, "--dim", "\(o.dimension)", "--index", "auto"])
    // Frequent background snapshots and rebuilds, so that kills land in them too.
    let toml = db.appendingPathComponent("engram.toml")
    let settings = try String(contentsOf: toml, encoding: .utf8)
        .replacingOccurrences(of: "snapshot_every = 50000", with: "snapshot_every = 1000")
        .replacingOccurrences(of: "auto_ivf_threshold = 20000", with: "auto_ivf_threshold = 2000")
    try settings.write(to: toml, atomically: false, encoding: .utf8)

    let batch = 100 + Int(rng.next() % 900)
    let batches = (o.records + batch - 1) / batch
    // Kill within the first three quarters, a little after an acknowledgement: the import is
    // then still running (checked below).
    let killAfter = 1 + Int(rng.next() % UInt64(max(1, batches * 3 / 4)))
    let extraDelay = Double(rng.next() % 15) / 1000
    // Read acknowledgements as they come; kill after the chosen one (plus a little).
    let killed = try KilledChild.run(o.engram, ["import", "--db", db.path, "--ack-lines", "--no-progress", "--batch", "\(batch)", input.path],
                                     killAfter: killAfter, delay: extraDelay)
    let seen = killed.seen
    let acked = killed.highest
    let inFlight = killed.killedBySignal && acked > 0 && acked < o.records
    if !inFlight { notInFlight += 1 }

    let (checkStatus, checkOut) = try run(o.engram, ["check", "--db", db.path, "--json"])
    if checkStatus != 0 {
        print("trial \(trial): check failed: \(String(decoding: checkOut, as: UTF8.self))")
        mismatches += 1
    }
    let (_, exported) = try run(o.engram, ["export", "--db", db.path])
    var stored: [String: (String, [Float])] = [:]
    for line in exported.split(separator: 0x0A) {
        guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let id = object["id"] as? String, let text = object["text"] as? String,
              let vector = object["vector"] as? [Double] else { mismatches += 1; continue }
        stored[id] = (text, vector.map { Float($0) })
    }
    var trialLost = 0, trialMismatch = 0
    for (id, history) in versions where history[0].line <= acked {
        // The newest acknowledged version, or a newer one from the batch in flight.
        let newestAcked = history.lastIndex { $0.line <= acked }!
        guard let (text, vector) = stored[id] else { trialLost += 1; continue }
        let same = history[newestAcked...].contains { want in
            let norm = want.vector.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            return text == want.text && zip(vector, want.vector).allSatisfy { abs($0 - $1 / norm) < 1e-5 }
        }
        if !same { trialMismatch += 1 }
    }
    // Nothing may appear that was never written.
    trialMismatch += stored.keys.filter { versions[$0] == nil }.count
    lost += trialLost
    mismatches += trialMismatch
    print("trial \(trial): batches of \(batch), killed after \(seen) acknowledged batches + \(Int(extraDelay * 1000)) ms: \(acked) lines acknowledged, \(stored.count) stored, lost \(trialLost), mismatches \(trialMismatch)\(inFlight ? "" : " — NOT KILLED IN FLIGHT")")
    try? FileManager.default.removeItem(at: db)
}
print("lost acknowledged: \(lost), mismatches: \(mismatches), trials: \(o.trials)\(notInFlight > 0 ? ", not killed in flight: \(notInFlight)" : "")")
finish(lost == 0 && mismatches == 0 && notInFlight == 0 ? 0 : 1)
