import Engram
import EngramBase
import Foundation

/// A random seed for a randomised test, or `$ENGRAM_TEST_SEED` to replay one; printed.
func testSeed(_ test: String) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["ENGRAM_TEST_SEED"].flatMap { UInt64($0) } ?? .random(in: 0...UInt64.max)
    print("\(test) seed: \(seed) (replay with ENGRAM_TEST_SEED=\(seed))")
    return seed
}

/// Seconds since the epoch of a UTC date and time, by Foundation's Gregorian calendar (valid
/// from 1583 on, where it does not switch to the Julian calendar).
func calendarSeconds(_ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int, _ second: Int) -> Int {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let date = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
    return Int(date.timeIntervalSince1970)
}

/// Decodes one line given as bytes, with a fresh decoder.
func decode(bytes: [UInt8], defaultNamespace: String = "default") -> Result<NewMemory, EngramError> {
    var decoder = JSONLRecordDecoder(defaultNamespace: defaultNamespace)
    return bytes.withUnsafeBytes { line in Result { () throws(EngramError) in try decoder.decode(line) } }
}

func decode(_ line: String, defaultNamespace: String = "default") -> Result<NewMemory, EngramError> {
    decode(bytes: Array(line.utf8), defaultNamespace: defaultNamespace)
}

/// The memory a line decodes to, nil when it fails.
func memory(_ line: String) -> NewMemory? { try? decode(line).get() }

/// The error a line fails with, nil when it decodes.
func failure(_ line: String) -> EngramError? {
    if case let .failure(error) = decode(line) { return error }
    return nil
}

func failure(bytes: [UInt8]) -> EngramError? {
    if case let .failure(error) = decode(bytes: bytes) { return error }
    return nil
}

/// The error a malformed record is reported with.
func malformed(_ message: String) -> EngramError {
    EngramError(.invalidArgument, message, reason: .malformedRecord)
}

/// Runs `body` with a new empty directory, removed afterwards.
func withTempDir<T>(_ body: (URL) throws -> T) throws -> T {
    let dir = try newTempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir)
}

/// `withTempDir` for an async `body`.
func withTempDirAsync<T>(_ body: (URL) async throws -> T) async throws -> T {
    let dir = try newTempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir)
}

private func newTempDir() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}
