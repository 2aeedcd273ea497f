// engram-bench-driver: serves one Engram database over stdin/stdout for the shared
// side-by-side harness (../shared/bench/PROTOCOL.md, protocol version 1), through the
// library's facade with the database's default settings.
//
// stdout carries the protocol only: fd 1 is duplicated for the protocol and then pointed at
// stderr, so that nothing else can corrupt the stream.
import Engram
import Foundation

BLASCore.correctIfNeeded()
signal(SIGPIPE, SIG_IGN)
let protocolOut = dup(1)
dup2(2, 1)
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = ProcessInfo.processInfo.environment["ENGRAM_DRIVER_LOG"] == "info" ? .info : .warning
    return handler
}

/// A failed request: reported with status 1, the driver goes on.
struct DriverError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads exactly `count` bytes from fd 0; nil at a clean end of input.
func readExactly(_ count: Int) throws -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
        let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress! + done, count - done) }
        if n == 0 {
            if done == 0 { return nil }
            throw DriverError("truncated input")
        }
        if n < 0 {
            if errno == EINTR { continue }
            throw DriverError("read: \(String(cString: strerror(errno)))")
        }
        done += n
    }
    return buffer
}

func writeAll(_ bytes: [UInt8]) {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(protocolOut, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            exit(1)
        }
        done += n
    }
}

func respond(_ status: UInt8, _ payload: [UInt8]) {
    var out: [UInt8] = [status]
    withUnsafeBytes(of: UInt32(payload.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: payload)
    writeAll(out)
}

/// Reads little-endian fields of one request payload.
struct Payload {
    let bytes: [UInt8]
    var at = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, at + n <= bytes.count else { throw DriverError("truncated payload") }
        defer { at += n }
        return bytes[at..<at + n]
    }
    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let slice = try take(MemoryLayout<T>.size)
        return slice.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
    }
    mutating func u32() throws -> Int { Int(try load(UInt32.self)) }
    mutating func i64() throws -> Int64 { try load(Int64.self) }
    mutating func f64() throws -> Double { Double(bitPattern: try load(UInt64.self)) }
    mutating func floats(_ n: Int) throws -> [Float] {
        let slice = try take(n * 4)
        return slice.withUnsafeBytes { raw in (0..<n).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }
    mutating func str16() throws -> String {
        let n = Int(try load(UInt16.self))
        return String(decoding: try take(n), as: UTF8.self)
    }
    mutating func vec() throws -> [Float] { try floats(try u32()) }
    var rest: ArraySlice<UInt8> { bytes[at...] }
}

struct Writer {
    var bytes: [UInt8] = []
    mutating func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func str16(_ s: String) {
        let utf8 = Array(s.utf8.prefix(Int(UInt16.max)))
        withUnsafeBytes(of: UInt16(utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: utf8)
    }
}

func json<T: Encodable>(_ value: T) throws -> [UInt8] { Array(try EngramJSON.encode(value)) }

/// What `O` replies: whether the database was created, and the settings in effect.
struct OpenReply: Encodable {
    var created: Bool
    var dimension: Int
    var index: IndexKind
    var sync: Bool
    var nprobe: Int
    var efSearch: Int
    var autoIVFThreshold: Int
    var ivfMinimumTrainingSize: Int
    var snapshotEvery: Int
    var threads: Int
    var activeProcessors: Int
    var scoring: [String: String]

    init(created: Bool, settings s: StoreSettings) {
        self.created = created
        dimension = s.dimension
        index = s.index
        sync = s.sync
        nprobe = s.nprobe
        efSearch = s.efSearch
        autoIVFThreshold = s.autoIVFThreshold
        ivfMinimumTrainingSize = s.ivfMinimumTrainingSize
        snapshotEvery = s.snapshotEvery
        threads = s.threads
        activeProcessors = ProcessInfo.processInfo.activeProcessorCount
        scoring = ["wSim": "\(s.scoring.wSim)", "wTime": "\(s.scoring.wTime)", "wImportance": "\(s.scoring.wImportance)",
                   "halfLife": DurationText.format(s.scoring.halfLife), "decay": s.scoring.decay.rawValue]
    }
}

func result(_ response: QueryResponse) throws -> [UInt8] {
    var w = Writer()
    w.u32(response.results.count)
    for hit in response.results {
        guard let id = Int64(hit.id) else { throw DriverError("result id '\(hit.id)' is not an integer") }
        w.i64(id)
    }
    for hit in response.results { w.f64(hit.similarity) }
    for hit in response.results { w.f64(hit.time.seconds) }
    for hit in response.results { w.f64(hit.score) }
    w.str16(response.plan)
    return w.bytes
}

func filter(_ tag: String) -> FilterRequest? { tag.isEmpty ? nil : FilterRequest(tags: [tag]) }

var database: EngramDatabase?

@MainActor func requireDatabase() throws -> EngramDatabase {
    guard let database else { throw DriverError("no database is open (send O first)") }
    return database
}

@MainActor func handle(_ op: UInt8, _ p: inout Payload) async throws -> [UInt8] {
    switch op {
    case UInt8(ascii: "H"):
        return Array("engram-bench-driver 1".utf8)
    case UInt8(ascii: "O"):
        guard database == nil else { throw DriverError("a database is already open") }
        let dimension = try p.u32()
        let path = String(decoding: p.rest, as: UTF8.self)
        let url = URL(fileURLWithPath: path)
        let created = !FileManager.default.fileExists(atPath: url.appendingPathComponent("engram.toml").path)
        let db = try EngramDatabase.open(.init(directory: url, createWith: StoreSettings(dimension: dimension)))
        guard db.settings.dimension == dimension else {
            try db.close()
            throw DriverError("the database stores \(db.settings.dimension) dimensions, not \(dimension)")
        }
        database = db
        return try json(OpenReply(created: created, settings: db.settings))
    case UInt8(ascii: "I"):
        let db = try requireDatabase()
        let n = try p.u32(), d = try p.u32()
        guard d == db.settings.dimension else { throw DriverError("dimension \(d), the database stores \(db.settings.dimension)") }
        let vectors = try p.floats(n * d)
        let ids = try (0..<n).map { _ in try p.i64() }
        let times = try (0..<n).map { _ in try p.f64() }
        let tags = try (0..<n).map { _ in try p.str16() }
        let memories = (0..<n).map { i in
            NewMemory(id: String(ids[i]), vector: Array(vectors[i * d..<(i + 1) * d]),
                      tags: tags[i].isEmpty ? [] : [tags[i]], time: times[i])
        }
        var w = Writer()
        w.u32(try await db.upsert(memories).count)
        return w.bytes
    case UInt8(ascii: "Q"):
        let db = try requireDatabase()
        let k = try p.u32(), tag = try p.str16(), vector = try p.vec()
        return try result(try await db.query(QueryRequest(vector: vector, k: k, filter: filter(tag), idsOnly: true)))
    case UInt8(ascii: "T"):
        let db = try requireDatabase()
        let k = try p.u32(), now = try p.f64()
        let scoring = ScoringRequest(wSim: try p.f64(), wTime: try p.f64(), wImportance: try p.f64(),
                                     halfLife: TimeSpan(seconds: try p.f64()))
        let tag = try p.str16(), vector = try p.vec()
        return try result(try await db.query(QueryRequest(vector: vector, k: k, filter: filter(tag), scoring: scoring,
                                                          now: Timestamp(now), idsOnly: true)))
    case UInt8(ascii: "D"):
        let db = try requireDatabase()
        let n = try p.u32()
        let ids = try (0..<n).map { _ in String(try p.i64()) }
        var w = Writer()
        w.u32(try db.delete(DeleteRequest(ids: ids, ignoreMissing: true)).deleted)
        return w.bytes
    case UInt8(ascii: "C"):
        var w = Writer()
        w.u64(UInt64(try requireDatabase().count()))
        return w.bytes
    case UInt8(ascii: "F"):
        // Every write is durable when acknowledged; what is left is the background index work
        // the writes started (rebuilds, snapshots). Waiting for it here counts it in the
        // insert phase instead of letting it run under the first queries.
        try requireDatabase().waitForBackgroundWork()
        return []
    case UInt8(ascii: "S"):
        return try json(try requireDatabase().stats())
    case UInt8(ascii: "R"):
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        var w = Writer()
        w.f64(cpu)
        w.u64(UInt64(usage.ru_maxrss))
        return w.bytes
    case UInt8(ascii: "X"):
        try database?.close()
        database = nil
        return []
    default:
        throw DriverError("unknown op \(op)")
    }
}

while let header = try readExactly(5) {
    let length = Int(UInt32(littleEndian: header[1...4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }))
    guard let body = length == 0 ? [] : try readExactly(length) else {
        FileHandle.standardError.write(Data("engram-bench-driver: truncated request\n".utf8))
        exit(1)
    }
    var payload = Payload(body)
    do {
        respond(0, try await handle(header[0], &payload))
    } catch {
        respond(1, Array("\(error)".utf8))
    }
}
do {
    try database?.close()
} catch {
    FileHandle.standardError.write(Data("engram-bench-driver: close failed: \(error)\n".utf8))
    exit(1)
}
exit(0)
