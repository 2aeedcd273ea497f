import EngramStore

/// Maxwell's daemon: `{"database", "table", "type": "insert"|"update"|"delete"|…, "ts", "xid",
/// "xoffset"?, "commit"?, "position"?, "data", "old"?, "primary_key"?, "primary_key_columns"?}`.
enum Maxwell {
    static func parse(_ o: [String: JSONValue], offset: UInt64) throws -> LogRecord {
        guard let type = o["type"]?.stringValue else { throw LogParser.bad("a Maxwell event without \"type\"") }
        let operation: ChangeEvent.Operation
        switch type {
        case "insert", "bootstrap-insert": operation = .insert
        case "update": operation = .update
        case "delete": operation = .delete
        case "bootstrap-start", "bootstrap-complete", "table-create", "table-alter", "table-drop", "database-create",
             "database-alter", "database-drop":
            return .ignored("a \(type) event")
        default: throw LogParser.bad("unknown Maxwell type \"\(type)\"")
        }
        guard let database = o["database"]?.stringValue, let table = o["table"]?.stringValue else {
            throw LogParser.bad("a Maxwell event without \"database\" or \"table\"")
        }
        guard let data = o["data"]?.objectValue else { throw LogParser.bad("a Maxwell event without \"data\"") }
        // `old` holds only the changed columns' previous values: the row before is data over them.
        var before: [String: JSONValue]?
        if operation == .update, let old = o["old"]?.objectValue { before = data.merging(old) { $1 } }
        var key: [String: JSONValue] = [:]
        for name in o["primary_key_columns"]?.arrayValue?.compactMap(\.stringValue) ?? [] { key[name] = data[name] }
        // `position` (with output_binlog_position) is `binlog-file.NNNNNN:offset`.
        var position = SourcePosition(log: 0, index: offset)
        if let text = o["position"]?.stringValue, let colon = text.lastIndex(of: ":"),
           let pos = UInt64(text[text.index(after: colon)...]),
           let file = text[..<colon].split(separator: ".").last.flatMap({ UInt64($0) }) {
            position = SourcePosition(log: file << 32 | (pos & 0xFFFF_FFFF), index: o["xoffset"]?.unsignedValue ?? 0)
        }
        let commits = o["commit"]?.boolValue ?? (o["xid"] == nil)
        return .changes([ChangeEvent(operation: operation, table: "\(database).\(table)", key: key,
                                     before: operation == .delete ? data : before, after: operation == .delete ? nil : data,
                                     commitTime: o["ts"]?.numberValue, transaction: o["xid"].map(\.description), position: position)],
                        endsTransaction: commits)
    }
}
