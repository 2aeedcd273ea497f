import EngramStore

/// Debezium change events: `{before, after, source{…, lsn | file, pos, row, ts_ms}, op, ts_ms,
/// transaction{id, …}}`, possibly wrapped as `{"schema": …, "payload": …}`; transaction
/// markers `{"status": "BEGIN" | "END", "id": …}`.
enum Debezium {
    static func parse(_ object: [String: JSONValue], offset: UInt64) throws -> LogRecord {
        let o = object["payload"].flatMap(\.objectValue) ?? object
        if let status = o["status"]?.stringValue {
            let id = o["id"].map(\.description)
            return status == "BEGIN" ? .begin(transaction: id) : .commit(transaction: id)
        }
        guard let op = o["op"]?.stringValue else { throw LogParser.bad("a Debezium event without \"op\"") }
        let operation: ChangeEvent.Operation
        switch op {
        case "c", "r": operation = .insert
        case "u": operation = .update
        case "d": operation = .delete
        case "t": return .ignored("a truncate")
        case "m": return .ignored("a message")
        default: throw LogParser.bad("unknown Debezium op \"\(op)\"")
        }
        guard let source = o["source"]?.objectValue else { throw LogParser.bad("a Debezium event without \"source\"") }
        let before = o["before"]?.objectValue, after = o["after"]?.objectValue
        if operation == .delete ? before == nil && after == nil : after == nil {
            throw LogParser.bad("a Debezium \(operation.rawValue) without the row")
        }
        guard let table = source["table"]?.stringValue else { throw LogParser.bad("a Debezium event without source.table") }
        let schema = source["schema"]?.stringValue ?? source["db"]?.stringValue
        // PostgreSQL: the change's LSN; MySQL: binlog file number and position, then the row.
        var position = SourcePosition(log: 0, index: offset)
        if let lsn = source["lsn"]?.unsignedValue {
            position = SourcePosition(log: lsn, index: 0)
        } else if let file = source["file"]?.stringValue, let pos = source["pos"]?.unsignedValue,
                  let number = file.split(separator: ".").last.flatMap({ UInt64($0) }) {
            position = SourcePosition(log: number << 32 | (pos & 0xFFFF_FFFF), index: source["row"]?.unsignedValue ?? 0)
        }
        let millis = source["ts_ms"]?.numberValue ?? o["ts_ms"]?.numberValue
        let transaction = o["transaction"]?.objectValue?["id"].map(\.description) ?? source["txId"].map(\.description)
        return .changes([ChangeEvent(operation: operation, table: schema.map { "\($0).\(table)" } ?? table, before: before,
                                     after: operation == .delete ? nil : after, commitTime: millis.map { $0 / 1000 },
                                     transaction: transaction, position: position)],
                        endsTransaction: false)
    }
}
