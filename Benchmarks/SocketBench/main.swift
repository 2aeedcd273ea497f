// engram-bench-socket: the socket API under load on loopback (a Unix socket), beside the same
// queries made in process.
//
//   engram-bench-socket [COUNT] [SECONDS] [ROUNDS]   (default 100000 memories, 5 s per
//                                                    measurement, 3 rounds)
//
// Builds a database of COUNT seeded 384-dimensional vectors in 1,000 clusters, then measures
// `Memory/Query` (k = 10, the record of each result read) from 1, 8 and 64 connections, one
// call in flight per connection, against `engramd` (started from the same directory as this
// program), after the same queries from two tasks in process; then `Memory/Upsert` in
// batches of 1,000 on one connection. Prints requests/s, p50 and p99, the CPU time and the
// context switches a call costs engramd and this client, and engramd's RSS.
// The ratio at 8 connections is measured in ROUNDS pairs, each the in-process phase and
// right after it the 8-connection one (in the first, after the 1-connection phase; engramd
// restarted in between, as the database has one writer), so that a pair sees the same spell
// of a shared machine; the median pair (the lower of the two middle ones for an even ROUNDS)
// is the figure.
import Engram
import Foundation

BLASCore.correctIfNeeded()

let arguments = CommandLine.arguments
let count = arguments.count > 1 ? Int(arguments[1]) ?? 100_000 : 100_000
let seconds = arguments.count > 2 ? Double(arguments[2]) ?? 5 : 5
let rounds = max(1, arguments.count > 3 ? Int(arguments[3]) ?? 3 : 3)
let dimension = 384

func cpuModel() -> String {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    return info.split(separator: "\n").first { $0.hasPrefix("model name") }.map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) } ?? "unknown"
}

/// CPU time (user + system) that process `pid` has used, in seconds.
func cpuSeconds(_ pid: Int32) -> Double {
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    // After the command name in parentheses: state, then fields 4…; utime and stime are 14 and 15.
    let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return .nan }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Context switches: waits that gave up the CPU, and preemptions.
struct Switches {
    var waits = 0, preemptions = 0

    static func + (a: Switches, b: Switches) -> Switches {
        Switches(waits: a.waits + b.waits, preemptions: a.preemptions + b.preemptions)
    }

    static func - (a: Switches, b: Switches) -> Switches {
        Switches(waits: a.waits - b.waits, preemptions: a.preemptions - b.preemptions)
    }

    /// "W (P preempted)" a call over `calls` calls.
    func perCall(_ calls: Double) -> String {
        String(format: "%.2f (%.2f preempted)", Double(waits + preemptions) / calls, Double(preemptions) / calls)
    }
}

/// The context switches of all of process `pid`'s threads so far.
func contextSwitches(_ pid: Int32) -> Switches {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    var total = Switches()
    for task in tasks {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") {
            let count = Int(line.split(separator: "\t").last ?? "") ?? 0
            if line.hasPrefix("voluntary_ctxt_switches:") { total.waits += count }
            if line.hasPrefix("nonvoluntary_ctxt_switches:") { total.preemptions += count }
        }
    }
    return total
}

/// `RUSAGE_THREAD` (1 on Linux), which Glibc's module does not import.
let rusageThread = __rusage_who_t(1)

/// The client's context switches in the last `socketLatencies`.
nonisolated(unsafe) var clientSwitches = Switches()

func rssMiB(_ pid: Int32) -> Double {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? .nan) / 1024
}

var random = SeededRandom(seed: 7)
func unit(_ v: [Float]) -> [Float] {
    let n = sqrt(v.reduce(0) { $0 + $1 * $1 })
    return v.map { $0 / n }
}
let centres = (0..<1000).map { _ in unit((0..<dimension).map { _ in Float.random(in: -1...1, using: &random) }) }
@MainActor func near(_ c: Int) -> [Float] {
    unit(centres[c].map { $0 + Float.random(in: -0.06...0.06, using: &random) })
}

print("cpu: \(cpuModel()), \(ProcessInfo.processInfo.activeProcessorCount) cores; OpenBLAS core \(BLASCore.choice)")
let work = FileManager.default.temporaryDirectory.appendingPathComponent("engram-bench-socket-\(UUID().uuidString)")
defer { try? FileManager.default.removeItem(at: work) }
let path = work.appendingPathComponent("db")
var settings = StoreSettings()
settings.dimension = dimension
do {
    let db = try EngramDatabase.create(at: path, settings: settings)
    let started = Date()
    for start in stride(from: 0, to: count, by: 1000) {
        let batch = (start..<min(start + 1000, count)).map { i in MemoryInput(id: "m\(i)", text: "memory \(i)", vector: near(i % 1000)) }
        _ = try await db.upsert(UpsertRequest(memories: batch))
    }
    db.waitForBackgroundWork()
    try db.close()
    print(String(format: "built %d memories in %.1f s", count, Date().timeIntervalSince(started)))
}

// The queries, as requests and as NDJSON lines.
let queries = (0..<512).map { i in QueryRequest(vector: near((i * 7) % 1000), k: 10) }
let encoder = JSONEncoder()
let lines = try queries.enumerated().map { i, q in
    Array("{\"id\":\(i),\"method\":\"engram.v1.Memory/Query\",\"params\":".utf8) + Array(try encoder.encode(q)) + Array("}\n".utf8)
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func report(_ name: String, _ latencies: [Double]) {
    let sorted = latencies.sorted()
    print(String(format: "%-28@ %8.0f req/s   p50 %6.3f ms   p99 %6.3f ms", name as NSString, Double(sorted.count) / seconds,
                 percentile(sorted, 0.5) * 1000, percentile(sorted, 0.99) * 1000))
}

/// The queries from two tasks in process for `seconds`: their latencies.
func inProcessLatencies() async throws -> [Double] {
    let db = try EngramDatabase.open(at: path)
    let deadline = Date().addingTimeInterval(seconds)
    let latencies: [Double]
    do {
        latencies = try await queryFromTwoTasks(db, until: deadline)
    } catch {
        try? db.close()
        throw error
    }
    // Closed before engramd opens the database; a failure to close fails the benchmark.
    try db.close()
    return latencies
}

/// Queries from two tasks until `deadline`: every call's latency.
func queryFromTwoTasks(_ db: EngramDatabase, until deadline: Date) async throws -> [Double] {
    try await withThrowingTaskGroup(of: [Double].self) { group in
        for t in 0..<2 {
            group.addTask {
                var out: [Double] = []
                var i = t
                while Date() < deadline {
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = try await db.query(queries[i % queries.count])
                    out.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    i += 2
                }
                return out
            }
        }
        var all: [Double] = []
        for try await part in group { all += part }
        return all
    }
}

/// The engramd built beside this program.
let builtDaemon = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("engramd")

/// Starts `executable` (engramd) on the database and waits for its socket.
func startDaemon(_ executable: URL = builtDaemon) async throws -> Process {
    let daemon = Process()
    daemon.executableURL = executable
    daemon.arguments = ["--db", path.path]
    daemon.standardError = FileHandle.nullDevice
    try daemon.run()
    while !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(20)) }
    try await Task.sleep(for: .milliseconds(200))
    return daemon
}

func stopDaemon(_ daemon: Process) {
    daemon.terminate()
    daemon.waitUntilExit()
}

let socket = path.appendingPathComponent("run/engramd.sock").path

/// With ENGRAM_BENCH_COMPARE=PATH (another build's engramd), only 8-connection phases, the
/// two daemons alternating ROUNDS times each; each pair's rate ratio and each side's CPU a
/// request. For telling two builds apart on a machine whose speed drifts.
if let other = ProcessInfo.processInfo.environment["ENGRAM_BENCH_COMPARE"] {
    var ratios: [Double] = []
    for round in 0..<rounds {
        var rates: [Double] = []
        for (name, executable) in [("this build", builtDaemon), ("compared", URL(fileURLWithPath: other))] {
            let daemon = try await startDaemon(executable)
            _ = try socketLatencies(8, for: 1)  // caches warmed as in a daemon that has served a while
            let before = cpuSeconds(daemon.processIdentifier), clientBefore = cpuSeconds(getpid())
            let calls = Double(try socketLatencies(8).count)
            print(String(format: "round %d, %@: 8 connections %.0f req/s; CPU a request: engramd %.3f ms, this client %.3f ms",
                         round + 1, name, calls / seconds, (cpuSeconds(daemon.processIdentifier) - before) * 1000 / calls,
                         (cpuSeconds(getpid()) - clientBefore) * 1000 / calls))
            stopDaemon(daemon)
            rates.append(calls)
        }
        ratios.append(rates[0] / rates[1])
    }
    print(String(format: "this build over the compared one at 8 connections: median %.3f (%.3f–%.3f)",
                 ratios.sorted()[(rounds - 1) / 2], ratios.min()!, ratios.max()!))
    try? FileManager.default.removeItem(at: work)
    exit(0)
}

let cpuBefore = cpuSeconds(getpid())
var inProcessLatency = try await inProcessLatencies()
report("in process, 2 tasks", inProcessLatency)
print(String(format: "  CPU a query in process: %.3f ms", (cpuSeconds(getpid()) - cpuBefore) * 1000 / Double(inProcessLatency.count)))
var daemon = try await startDaemon()
defer { if daemon.isRunning { daemon.terminate() } }
print(String(format: "engramd RSS after start: %.1f MiB", rssMiB(daemon.processIdentifier)))

/// One connection's loop: a request, its answer, again, until `deadline`.
final class Caller: @unchecked Sendable {
    // @unchecked: each caller is used by the one thread that runs it; `latencies` and
    // `switches` are read after that thread is joined.
    let fd: Int32
    var latencies: [Double] = []
    /// The thread's context switches over `run`.
    var switches = Switches()
    var buffer = [UInt8](repeating: 0, count: 1 << 20)

    init(socket: String) throws { fd = try UnixSocket.connect(path: socket) }

    deinit { close(fd) }

    /// Sends `line` and reads until the answer's newline; false on a failure or an error answer.
    func call(_ line: [UInt8]) -> Bool {
        let sent = line.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == line.count else { return false }
        var filled = 0
        while true {
            // Waits in `poll` for input, as an event-driven client (epoll, NIO, asyncio) does:
            // a thread asleep in `recv` is also woken when engramd reads the request and frees
            // its buffer (the socket's write space), and goes back to sleep: a second context
            // switch a call, which also preempts engramd's event loops.
            var wanted = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&wanted, 1, -1) == 1 else { return false }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, $0.count - filled, 0) }
            guard n > 0 else { return false }
            filled += n
            if buffer[filled - 1] == 0x0A { break }
            if filled == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
        }
        // `{"id":N,"result":…`; an error answer has "error" there instead.
        return String(decoding: buffer[..<min(filled, 32)], as: UTF8.self).contains("\"result\"")
    }

    func run(until deadline: Date, offset: Int) {
        var usage = rusage()
        getrusage(rusageThread, &usage)
        let before = Switches(waits: usage.ru_nvcsw, preemptions: usage.ru_nivcsw)
        defer {
            getrusage(rusageThread, &usage)
            switches = Switches(waits: usage.ru_nvcsw, preemptions: usage.ru_nivcsw) - before
        }
        var i = offset
        while Date() < deadline {
            let start = DispatchTime.now().uptimeNanoseconds
            guard call(lines[i % lines.count]) else {
                print("a call failed")
                return
            }
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            i += 1
        }
    }
}

/// `connections` callers, each on a thread of its own, for `duration` seconds: their latencies.
func socketLatencies(_ connections: Int, for duration: Double = seconds) throws -> [Double] {
    let callers = try (0..<connections).map { _ in try Caller(socket: socket) }
    let deadline = Date().addingTimeInterval(duration)
    let done = DispatchGroup()
    for (i, caller) in callers.enumerated() {
        done.enter()
        Thread.detachNewThread {
            caller.run(until: deadline, offset: i * 13)
            done.leave()
        }
    }
    done.wait()
    clientSwitches = callers.reduce(Switches()) { $0 + $1.switches }
    return callers.flatMap(\.latencies)
}

/// Each pair's ratio: the 8-connection rate over the in-process one just before it.
var ratios: [Double] = []
for connections in [1, 8, 64] {
    let daemonBefore = cpuSeconds(daemon.processIdentifier), clientBefore = cpuSeconds(getpid())
    let daemonSwitchesBefore = contextSwitches(daemon.processIdentifier)
    let latencies = try socketLatencies(connections)
    report("socket, \(connections) connection\(connections == 1 ? "" : "s")", latencies)
    let calls = Double(latencies.count)
    print(String(format: "  CPU a request: engramd %.3f ms, this client %.3f ms; context switches a request: engramd %@, this client %@",
                 (cpuSeconds(daemon.processIdentifier) - daemonBefore) * 1000 / calls, (cpuSeconds(getpid()) - clientBefore) * 1000 / calls,
                 (contextSwitches(daemon.processIdentifier) - daemonSwitchesBefore).perCall(calls), clientSwitches.perCall(calls)))
    if connections == 8 { ratios.append(Double(latencies.count) / Double(inProcessLatency.count)) }
}
print(String(format: "at 8 connections, the phases above: %.0f%% of the in-process two-task rate", 100 * ratios[0]))

// The ratio again, from one-second slices alternating between the two (SECONDS of each a
// round): a read-only open of the database in this process, beside engramd idle, then
// engramd from 8 connections with this process's database idle; a round's ratio is its
// socket calls over its in-process calls, so a drift of the machine's speed longer than a
// second falls on both alike.
ratios = []
do {
    let db = try EngramDatabase.open(at: path, readOnly: true)
    defer { try? db.close() }
    _ = try await queryFromTwoTasks(db, until: Date().addingTimeInterval(1))  // its caches warmed
    for round in 0..<rounds {
        var inProcess = 0, overSocket = 0, worst: [Double] = []
        for _ in 0..<Int(seconds.rounded(.up)) {
            inProcess += try await queryFromTwoTasks(db, until: Date().addingTimeInterval(1)).count
            let latencies = try socketLatencies(8, for: 1)
            overSocket += latencies.count
            worst += latencies
        }
        ratios.append(Double(overSocket) / Double(inProcess))
        print(String(format: "round %d, alternating seconds: in process %.0f req/s, 8 connections %.0f req/s (p99 %.3f ms): %.0f%%",
                     round + 1, Double(inProcess) / seconds.rounded(.up), Double(overSocket) / seconds.rounded(.up),
                     percentile(worst.sorted(), 0.99) * 1000, 100 * ratios[round]))
    }
}
let sortedRatios = ratios.sorted()
print(String(format: "at 8 connections: %.0f%% of the in-process two-task rate (median of %d rounds; %.0f%%–%.0f%%)",
             100 * sortedRatios[(sortedRatios.count - 1) / 2], rounds, 100 * sortedRatios[0], 100 * sortedRatios[sortedRatios.count - 1]))

// Upserts in batches of 1,000 on one connection (the lines made before the clock starts),
// then the same batches in process under other ids once engramd has stopped.
let upsertBatches = (0..<20).map { b in (0..<1000).map { i in MemoryInput(id: "u\(b)-\(i)", text: "new \(i)", vector: near((b * 1000 + i) % 1000)) } }
do {
    let caller = try Caller(socket: socket)
    let upsertLines = try upsertBatches.enumerated().map { b, batch in
        Array("{\"id\":\(b),\"method\":\"engram.v1.Memory/Upsert\",\"params\":".utf8) + Array(try encoder.encode(UpsertRequest(memories: batch))) + Array("}\n".utf8)
    }
    let started = Date()
    for line in upsertLines {
        guard caller.call(line) else { print("an upsert failed"); break }
    }
    print(String(format: "socket, Upsert in batches of 1000: %.0f memories/s", Double(upsertBatches.count * 1000) / Date().timeIntervalSince(started)))
}
print(String(format: "engramd RSS at the end: %.1f MiB", rssMiB(daemon.processIdentifier)))
stopDaemon(daemon)
do {
    let db = try EngramDatabase.open(at: path)
    let started = Date()
    for batch in upsertBatches {
        _ = try await db.upsert(UpsertRequest(memories: batch.map { var m = $0; m.id = "p" + (m.id ?? ""); return m }))
    }
    print(String(format: "in process, Upsert in batches of 1000: %.0f memories/s", Double(upsertBatches.count * 1000) / Date().timeIntervalSince(started)))
    try db.close()
}
