import EngramBase
import EngramStore
import Foundation

/// What one line of a change log holds.
public enum LogRecord: Sendable, Equatable {
    /// Row changes; `endsTransaction` when the line closes its source transaction (a wal2json
    /// version-1 line is a whole transaction; Maxwell marks the last change `commit`).
    case changes([ChangeEvent], endsTransaction: Bool)
    /// A transaction begins (wal2json `B`, a Debezium `BEGIN` marker).
    case begin(transaction: String?)
    /// It commits (wal2json `C`, a Debezium `END` marker).
    case commit(transaction: String?)
    /// Nothing to apply: a tombstone after a delete, a schema change, a truncate, a heartbeat.
    case ignored(String)
}

extension LogRecord {
    /// The record with each position read from the file's offsets (`log` 0: the format gave
    /// none) placed in log `generation` instead, so that the changes of a later file are
    /// newer than those of an earlier one; unchanged when `generation` is 0.
    public func placed(inLog generation: UInt64) -> LogRecord {
        guard generation > 0, case .changes(var events, let ends) = self else { return self }
        for i in events.indices where events[i].position.log == 0 { events[i].position.log = generation }
        return .changes(events, endsTransaction: ends)
    }
}

/// The change-log formats, one JSON object per line.
public enum LogFormat: String, Sendable, Codable, CaseIterable {
    /// Debezium change events, with or without the `{"schema", "payload"}` wrapper.
    case debezium
    /// PostgreSQL's wal2json, format version 1 (a transaction per line) or 2 (a change per line).
    case wal2json
    /// Maxwell's daemon.
    case maxwell
    /// Engram's own import lines (`{"id","text",…}`), with `"op":"delete"` for deletes.
    case engram

    /// The format a line's shape says, nil when it says none (a blank or malformed line).
    public static func detect(_ object: [String: JSONValue]) -> LogFormat? {
        let o = object["payload"].flatMap(\.objectValue) ?? object
        if o["op"] != nil && (o["after"] != nil || o["before"] != nil) && o["source"] != nil { return .debezium }
        if let status = o["status"]?.stringValue, ["BEGIN", "END"].contains(status), o["id"] != nil { return .debezium }
        if o["action"] != nil || o["change"] != nil { return .wal2json }
        if o["database"] != nil && o["table"] != nil && o["type"] != nil { return .maxwell }
        if o["id"] != nil || o["text"] != nil || o["vector"] != nil { return .engram }
        return nil
    }
}

extension EngramError.Reason {
    /// A complete change-log line that cannot be read (it goes to the dead letters).
    public static let malformedChange = EngramError.Reason("MALFORMED_CHANGE")
}

/// Reads change-log lines of one format into `LogRecord`s, with simdjson.
///
/// Thread-safety: none (it owns a `SimdJSONParser`); one per reader.
public final class LogParser {
    public let format: LogFormat
    private let json: SimdJSONParser

    /// The most nested arrays and objects a line may hold.
    public static let maxDepth = 64

    public init(format: LogFormat) throws {
        self.format = format
        json = try SimdJSONParser(maxDepth: Self.maxDepth, malformedReason: .malformedChange)
    }

    /// The format `line` (the first line of a log) shows.
    /// - Throws: `EngramError` `.invalidArgument` (`malformedChange`) when it shows none.
    public static func detect(_ line: [UInt8]) throws -> LogFormat {
        let parser = try LogParser(format: .engram)
        guard case let .object(object) = try parser.value(line), let format = LogFormat.detect(object) else {
            throw bad("cannot tell the log's format from this line: set [ingest] format or --format")
        }
        return format
    }

    private func value(_ line: [UInt8]) throws -> JSONValue {
        do {
            return try line.withUnsafeBytes { bytes in try json.parseValue(bytes) }
        } catch let error as EngramError where error.reason == .malformedChange {
            throw Self.bad("not valid JSON: \(error.message)")
        }
    }

    /// Parses `line`, which starts at byte `offset` of its file.
    /// - Throws: `EngramError` `.invalidArgument` (`malformedChange`) naming what is wrong.
    public func parse(_ line: [UInt8], offset: UInt64) throws -> LogRecord {
        let value = try value(line)
        if value == .null { return .ignored("a tombstone (null value)") }
        guard case let .object(object) = value else { throw Self.bad("not a JSON object") }
        switch format {
        case .debezium: return try Debezium.parse(object, offset: offset)
        case .wal2json: return try Wal2JSON.parse(object, offset: offset)
        case .maxwell: return try Maxwell.parse(object, offset: offset)
        case .engram: return try EngramLog.parse(object, offset: offset)
        }
    }

    static func bad(_ message: String) -> EngramError {
        EngramError(.invalidArgument, message, reason: .malformedChange)
    }
}

extension JSONValue {
    var objectValue: [String: JSONValue]? { if case let .object(o) = self { o } else { nil } }
    var stringValue: String? { if case let .string(s) = self { s } else { nil } }
    var numberValue: Double? { if case let .number(n) = self { n } else { nil } }
    var arrayValue: [JSONValue]? { if case let .array(a) = self { a } else { nil } }
    var boolValue: Bool? { if case let .bool(b) = self { b } else { nil } }
    /// A number or a numeric string as an unsigned integer.
    var unsignedValue: UInt64? {
        switch self {
        case let .number(n) where n >= 0 && n < 1.8e19 && n.rounded() == n: return UInt64(n)
        case let .string(s): return UInt64(s)
        default: return nil
        }
    }
}
