import EngramBase
import EngramStore
import Foundation
import Logging
import Synchronization

/// A fresh temporary directory, removed when the test's closure returns.
func withTempDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir.appendingPathComponent("db"))
}

let day = 86_400.0
let baseNow = 1_750_000_000.0

/// Clustered random memories spread over a year, with namespaces, tags, meta, importance.
func makeMemories(count: Int, dimension: Int, clusters: Int = 20, seed: UInt64 = 1) -> [NewMemory] {
    var rng = SeededRandom(seed: seed)
    let centres = (0..<clusters).map { _ in (0..<dimension).map { _ in Float(rng.gaussian()) } }
    let tagPool = ["red", "green", "blue", "work", "home"]
    return (0..<count).map { i in
        let c = centres[i % clusters]
        let v = c.map { $0 + 0.35 * Float(rng.gaussian()) }
        let tags = tagPool.filter { _ in Double.random(in: 0..<1, using: &rng) < 0.3 }
        return NewMemory(id: "m\(i)", namespace: i % 3 == 0 ? "alpha" : "beta", text: "memory \(i)", vector: v,
                         tags: tags, meta: ["group": .number(Double(i % 7)), "kind": .string(i % 2 == 0 ? "even" : "odd")],
                         time: baseNow - Double.random(in: 0..<365, using: &rng) * day,
                         importance: Double.random(in: 0..<1, using: &rng))
    }
}

func normalised(_ v: [Float]) -> [Float] {
    let n = (v.reduce(0) { $0 + Double($1) * Double($1) }).squareRoot()
    return v.map { Float(Double($0) / n) }
}

/// The reference: score every memory with the documented formula and sort.
func bruteForce(_ memories: [NewMemory], query: [Float], k: Int, wSim: Double, wTime: Double, wImp: Double,
                halfLife: Double, now: Double, where keep: (NewMemory) -> Bool = { _ in true }) -> [String] {
    let q = normalised(query)
    let scored = memories.filter(keep).map { m -> (String, Double) in
        let v = normalised(m.vector)
        let sim = zip(q, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rec = pow(0.5, max(0, now - (m.time ?? now)) / halfLife)
        return (m.id!, wSim * sim + wTime * rec + wImp * m.importance)
    }
    return scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(k).map(\.0)
}

func recall(_ got: [String], _ want: [String]) -> Double {
    guard !want.isEmpty else { return 1 }
    return Double(Set(got).intersection(want).count) / Double(want.count)
}

/// Settings for small test databases: IVF trains at a few hundred vectors.
func testSettings(_ kind: IndexKind, dimension: Int = 32) -> StoreSettings {
    var s = StoreSettings(dimension: dimension, index: kind)
    s.ivfMinimumTrainingSize = 500
    s.autoIVFThreshold = 500
    s.nprobe = 0
    s.sync = false
    return s
}

/// A store logger, at trace level, that hands each message to `saw` on the thread that logs it.
func messageLogger(_ saw: @escaping @Sendable (String) -> Void) -> Logger {
    var logger = Logger(label: "engram.store") { _ in MessageHandler(saw: saw) }
    logger.logLevel = .trace
    return logger
}

private struct MessageHandler: LogHandler {
    let saw: @Sendable (String) -> Void
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        saw(message.description)
    }
}

/// Keeps every message of its logger with the time it was logged.
final class LogRecorder: Sendable {
    private let lines = Mutex<[(message: String, at: DispatchTime)]>([])

    /// The store's logger, at trace level, recorded here.
    var logger: Logger {
        messageLogger { message in
            let entry = (message, DispatchTime.now())
            self.lines.withLock { $0.append(entry) }
        }
    }

    /// When the messages containing `text` were logged, in order.
    func times(of text: String) -> [DispatchTime] { lines.withLock { $0.filter { $0.message.contains(text) }.map(\.at) } }
}

/// Lets a test meet the store's background work at a log line: the thread that logs a
/// message containing `waitAt` (once armed) waits there until a message containing
/// `releaseAt` is logged (by any thread), 30 s at most.
final class RendezvousLog: Sendable {
    let waitAt: String, releaseAt: String
    private let armed = Mutex(false)
    private let released = DispatchSemaphore(value: 0)
    private let outcome = Mutex<(waited: Bool, timedOut: Bool)>((false, false))

    init(waitAt: String, releaseAt: String) {
        self.waitAt = waitAt
        self.releaseAt = releaseAt
    }

    /// The store's logger, at trace level, through this rendezvous.
    var logger: Logger { messageLogger { self.saw($0) } }

    func arm() { armed.withLock { $0 = true } }
    /// Whether a thread waited at `waitAt` and was released by `releaseAt` in time.
    var metAndReleased: Bool { outcome.withLock { $0.waited && !$0.timedOut } }

    private func saw(_ message: String) {
        if message.contains(releaseAt) { released.signal() }
        guard message.contains(waitAt), armed.withLock({ let was = $0; $0 = false; return was }) else { return }
        let result = released.wait(timeout: .now() + 30)
        outcome.withLock { $0 = (true, result == .timedOut) }
    }
}
