import EngramBase
import EngramStore

/// PostgreSQL's wal2json. Version 2: one action per line, `{"action": "B"|"C"|"I"|"U"|"D"|"T"|"M",
/// "schema", "table", "columns": [{name, type, value}], "identity": [{name, type, value}],
/// "pk"?, "lsn"?, "xid"?, "timestamp"?}`. Version 1: a transaction per line,
/// `{"xid"?, "nextlsn"?, "timestamp"?, "change": [{kind, schema, table, columnnames,
/// columntypes, columnvalues, oldkeys: {keynames, keytypes, keyvalues}}]}`.
enum Wal2JSON {
    static func parse(_ o: [String: JSONValue], offset: UInt64) throws -> LogRecord {
        if let changes = o["change"]?.arrayValue { return try version1(o, changes, offset: offset) }
        guard let action = o["action"]?.stringValue else { throw LogParser.bad("a wal2json line without \"action\" or \"change\"") }
        let xid = o["xid"].map(\.description)
        let operation: ChangeEvent.Operation
        switch action {
        case "B": return .begin(transaction: xid)
        case "C": return .commit(transaction: xid)
        case "I": operation = .insert
        case "U": operation = .update
        case "D": operation = .delete
        case "T": return .ignored("a truncate")
        case "M": return .ignored("a message")
        default: throw LogParser.bad("unknown wal2json action \"\(action)\"")
        }
        guard let table = o["table"]?.stringValue else { throw LogParser.bad("a wal2json change without \"table\"") }
        let columns = try row(o["columns"], "columns")
        let identity = try row(o["identity"], "identity")
        let pk = o["pk"]?.arrayValue?.compactMap { $0.objectValue?["name"]?.stringValue } ?? []
        var key: [String: JSONValue] = [:]
        for name in pk { key[name] = columns?[name] ?? identity?[name] }
        if key.isEmpty, let identity { key = identity }
        if operation != .delete && columns == nil { throw LogParser.bad("a wal2json \(action) without \"columns\"") }
        if operation == .delete && identity == nil { throw LogParser.bad("a wal2json D without \"identity\"") }
        let lsn = o["lsn"]?.stringValue.flatMap(SourcePosition.parseLSN)
        return .changes([ChangeEvent(operation: operation, table: qualified(o["schema"], table), key: key,
                                     before: operation == .insert ? nil : identity, after: operation == .delete ? nil : columns,
                                     commitTime: o["timestamp"]?.stringValue.flatMap(postgresTime), transaction: xid,
                                     position: lsn.map { SourcePosition(log: $0, index: 0) } ?? SourcePosition(log: 0, index: offset))],
                        endsTransaction: false)
    }

    private static func version1(_ o: [String: JSONValue], _ changes: [JSONValue], offset: UInt64) throws -> LogRecord {
        let xid = o["xid"].map(\.description)
        let lsn = o["nextlsn"]?.stringValue.flatMap(SourcePosition.parseLSN)
        let time = o["timestamp"]?.stringValue.flatMap(postgresTime)
        var events: [ChangeEvent] = []
        for (i, change) in changes.enumerated() {
            guard let c = change.objectValue, let kind = c["kind"]?.stringValue, let table = c["table"]?.stringValue else {
                throw LogParser.bad("change \(i + 1) of a wal2json transaction has no \"kind\" or \"table\"")
            }
            let operation: ChangeEvent.Operation
            switch kind {
            case "insert": operation = .insert
            case "update": operation = .update
            case "delete": operation = .delete
            case "truncate", "message": continue
            default: throw LogParser.bad("unknown wal2json kind \"\(kind)\"")
            }
            let values = try zipped(c["columnnames"], c["columnvalues"], "column")
            let old = try c["oldkeys"]?.objectValue.flatMap { try zipped($0["keynames"], $0["keyvalues"], "old key") }
            if operation != .delete && values == nil { throw LogParser.bad("a wal2json \(kind) without column values") }
            if operation == .delete && old == nil { throw LogParser.bad("a wal2json delete without \"oldkeys\"") }
            let pk = c["pk"]?.objectValue?["pknames"]?.arrayValue?.compactMap(\.stringValue) ?? []
            var key: [String: JSONValue] = [:]
            for name in pk { key[name] = values?[name] ?? old?[name] }
            if key.isEmpty, let old { key = old }
            // The changes of one line share its LSN; their order in the line tells them apart.
            let position = lsn.map { SourcePosition(log: $0, index: UInt64(i)) } ?? SourcePosition(log: 0, index: offset << 16 | UInt64(i))
            events.append(ChangeEvent(operation: operation, table: qualified(c["schema"], table), key: key,
                                      before: operation == .insert ? nil : old, after: operation == .delete ? nil : values,
                                      commitTime: time, transaction: xid, position: position))
        }
        return .changes(events, endsTransaction: true)
    }

    /// `[{name, value}]` as a row; nil when absent.
    private static func row(_ value: JSONValue?, _ what: String) throws -> [String: JSONValue]? {
        guard let value, value != .null else { return nil }
        guard let items = value.arrayValue else { throw LogParser.bad("wal2json \"\(what)\" is not an array") }
        var out: [String: JSONValue] = [:]
        for item in items {
            guard let o = item.objectValue, let name = o["name"]?.stringValue else {
                throw LogParser.bad("an entry of wal2json \"\(what)\" has no \"name\"")
            }
            out[name] = o["value"] ?? .null
        }
        return out
    }

    /// Parallel arrays of names and values as a row; nil when absent.
    private static func zipped(_ names: JSONValue?, _ values: JSONValue?, _ what: String) throws -> [String: JSONValue]? {
        guard let names else { return nil }
        guard let n = names.arrayValue, let v = values?.arrayValue, n.count == v.count else {
            throw LogParser.bad("wal2json \(what) names and values do not pair up")
        }
        var out: [String: JSONValue] = [:]
        for (name, value) in zip(n, v) {
            guard let name = name.stringValue else { throw LogParser.bad("a wal2json \(what) name is not a string") }
            out[name] = value
        }
        return out
    }

    static func qualified(_ schema: JSONValue?, _ table: String) -> String {
        schema?.stringValue.map { "\($0).\(table)" } ?? table
    }

    /// PostgreSQL's text form of a `timestamptz` (`2026-06-01 09:00:00.123456+00`, also with
    /// `+05:30` or `T`), in seconds since 1970.
    static func postgresTime(_ text: String) -> Double? {
        var t = text.replacingOccurrences(of: " ", with: "T")
        if let sign = t.lastIndex(where: { $0 == "+" || $0 == "-" }), t.distance(from: sign, to: t.endIndex) == 3 { t += ":00" }
        if t.hasSuffix("Z") == false, t.count == 19 { t += "Z" }
        return ISO8601Timestamp.epochSeconds(t)
    }
}
