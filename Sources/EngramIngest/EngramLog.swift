import EngramStore

/// Engram's own change lines: the import format (`{"id", "text"?, "vector"?, "namespace"?,
/// "tags"?, "meta"?, "time"?, "expiresAt"?, "validTo"?, "importance"?}`) as an upsert of that
/// memory, or `{"op": "delete", "id"}`, each with an optional `"seq"`: the change's place in
/// its source (a positive integer, increasing). The memory keeps its own id (no table prefix).
/// Without `seq` a line's byte offset orders it, so a line appended again later counts as a
/// new change.
enum EngramLog {
    /// The table of these changes: none (they are memories already).
    static let table = ""

    static func parse(_ o: [String: JSONValue], offset: UInt64) throws -> LogRecord {
        guard let id = o["id"]?.stringValue ?? o["id"]?.numberValue.map({ JSONValue.number($0).description }), !id.isEmpty else {
            throw LogParser.bad("an Engram change line without a string \"id\"")
        }
        var position = SourcePosition(log: 0, index: offset)
        if let value = o["seq"], value != .null {
            guard let seq = value.unsignedValue, seq > 0 else { throw LogParser.bad("\"seq\" is not a positive integer") }
            position = SourcePosition(log: seq, index: 0)
        }
        switch o["op"]?.stringValue ?? "upsert" {
        case "delete":
            return .changes([ChangeEvent(operation: .delete, table: table, key: ["id": .string(id)], before: o, position: position)],
                            endsTransaction: false)
        case "upsert":
            var row = o
            row["op"] = nil
            row["seq"] = nil
            row["id"] = .string(id)
            return .changes([ChangeEvent(operation: .update, table: table, key: ["id": .string(id)], after: row, position: position)],
                            endsTransaction: false)
        case let other:
            throw LogParser.bad("unknown \"op\" \"\(other)\" (use upsert or delete)")
        }
    }

    /// The memory of an upsert line.
    static func memory(_ row: [String: JSONValue]) throws -> NewMemory {
        func strings(_ key: String) throws -> [String] {
            guard let value = row[key], value != .null else { return [] }
            guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                throw LogParser.bad("\"\(key)\" is not a list of strings")
            }
            return items.compactMap(\.stringValue)
        }
        func time(_ key: String) throws -> Double? {
            guard let value = row[key], value != .null else { return nil }
            guard let t = TableMapping.time(value) else { throw LogParser.bad("\"\(key)\" is not a time: \(value)") }
            return t
        }
        var meta: [String: JSONValue] = [:]
        if let value = row["meta"], value != .null {
            guard let object = value.objectValue else { throw LogParser.bad("\"meta\" is not an object") }
            meta = object
        }
        var importance = 0.0
        if let value = row["importance"], value != .null {
            guard let n = value.numberValue else { throw LogParser.bad("\"importance\" is not a number") }
            importance = n
        }
        return NewMemory(id: row["id"]?.stringValue, namespace: row["namespace"]?.stringValue ?? MemoryStore.defaultNamespace,
                         text: row["text"]?.stringValue ?? "",
                         vector: try row["vector"].map { $0 == .null ? [] : try TableMapping.vector($0, column: "vector") } ?? [],
                         tags: try strings("tags"), meta: meta, time: try time("time"), expiresAt: try time("expiresAt"),
                         validTo: try time("validTo"), importance: importance)
    }
}
