import EngramBase
import EngramStore
import CSimdJSON
import Foundation

/// How the rows of one source table become memories (`[ingest.tables.NAME]` in engram.toml).
///
/// ```toml
/// [ingest.tables.faults]
/// source = "public.faults"   # the table as the log names it (default: NAME, with any schema)
/// key = ["id"]               # key columns (default: the log's key, else "id")
/// text = "{component} on {device}: {symptom}. Cause: {cause}"   # default: "column: value; …"
/// time = "reported_at"       # the event time (default: the commit time)
/// tags = ["fault"]
/// meta = ["device_id", "severity"]   # columns kept in meta (default: every column)
/// vector = "embedding"       # a JSON array or pgvector text `[0.1,…]` used instead of embedding
/// namespace = "faults"       # default: NAME
/// links = ["device_id -> devices AFFECTS"]   # graph edges: COLUMN -> TABLE [RELATION]
/// ```
///
/// A row's memory id is `NAME:key` (`faults:12`; key columns joined by `,`). Each link makes
/// an edge from the row's entity (its memory id) to `TABLE:value` of the column, valid while
/// the row holds that value.
public struct TableMapping: Sendable, Equatable {
    public var name: String
    public var source: String?
    public var key: [String] = []
    public var text: String? { didSet { template = text.map(Self.parts) } }
    /// `text` in parts, read once rather than for each row.
    private var template: [TemplatePart]?
    public var time: String?
    public var tags: [String] = []
    public var meta: [String]?
    public var vector: String?
    public var namespace: String?
    public var links: [LinkSpec] = []

    public init(name: String) { self.name = name }

    /// The relations of `links`: a change to the row opens and closes edges of these only.
    public var linkRelations: Set<String> { Set(links.map(\.relation)) }

    /// Reads `[ingest.tables.NAME]`.
    public init(name: String, _ section: inout SettingsSection) throws {
        self.name = name
        let source = try section.string("source", default: "")
        self.source = source.isEmpty ? nil : source
        key = try section.strings("key", default: [])
        let text = try section.string("text", default: "")
        self.text = text.isEmpty ? nil : text
        template = self.text.map(Self.parts)
        let time = try section.string("time", default: "")
        self.time = time.isEmpty ? nil : time
        tags = try section.strings("tags", default: [])
        let meta = try section.strings("meta", default: ["*"])
        self.meta = meta == ["*"] ? nil : meta
        let vector = try section.string("vector", default: "")
        self.vector = vector.isEmpty ? nil : vector
        let namespace = try section.string("namespace", default: "")
        self.namespace = namespace.isEmpty ? nil : namespace
        links = try section.strings("links", default: []).map { text in
            guard let link = LinkSpec(parsing: text) else {
                throw EngramError(.invalidArgument, "engram.toml: [ingest.tables.\(name)] links: \"\(text)\" is not COLUMN -> TABLE [RELATION]",
                                  reason: .invalidSettings)
            }
            return link
        }
        try section.rejectUnknownKeys()
    }

    /// The graph targets of `row` by `links`: (relation, `TABLE:value`) for each link column
    /// that holds a value.
    public func targets(of row: [String: JSONValue]) -> [(relation: String, to: String)] {
        links.compactMap { link in
            guard let value = row[link.column], value != .null else { return nil }
            return (link.relation, "\(link.table):\(value.description)")
        }
    }

    /// Whether the log's `table` (`faults`, `public.faults`, `maint.faults`) is this one.
    public func matches(_ table: String) -> Bool {
        if let source { return table == source }
        return table == name || table.hasSuffix("." + name)
    }

    /// What a change does to its row's memory.
    public enum Action: Sendable, Equatable {
        /// Write the memory (its vector empty when the text is to be embedded).
        case upsert(NewMemory)
        case delete(id: String)

        public var id: String {
            switch self {
            case let .upsert(m): return m.id ?? ""
            case let .delete(id): return id
            }
        }
    }

    /// The memory id of `event`'s row.
    /// - Throws: `EngramError` `.invalidArgument` (`malformedChange`) when the key columns are
    ///   missing from the row.
    public func id(of event: ChangeEvent) throws -> String {
        let row = event.row
        let columns = !key.isEmpty ? key : !event.key.isEmpty ? event.key.keys.sorted() : row["id"] != nil ? ["id"] : []
        guard !columns.isEmpty else {
            throw LogParser.bad("a change of \(event.table) has no key: name the key columns in [ingest.tables.\(name)] key")
        }
        let values = try columns.map { column -> String in
            guard let value = event.key[column] ?? row[column], value != .null else {
                throw LogParser.bad("a change of \(event.table) lacks its key column \"\(column)\"")
            }
            return value.description
        }
        return "\(name):\(values.joined(separator: ","))"
    }

    /// The action of `event`.
    /// - Throws: `EngramError` `.invalidArgument` (`malformedChange`) for a missing key, a
    ///   vector column that is not a list of numbers, or a time column that is not a time.
    public func action(for event: ChangeEvent) throws -> Action {
        let id = try id(of: event)
        if event.operation == .delete { return .delete(id: id) }
        let row = event.after ?? [:]
        var vector: [Float] = []
        if let column = self.vector, let value = row[column], value != .null {
            vector = try Self.vector(value, column: column)
        }
        var time = event.commitTime
        if let column = self.time, let value = row[column], value != .null {
            guard let t = Self.time(value) else { throw LogParser.bad("column \"\(column)\" of \(id) is not a time: \(value)") }
            time = t
        }
        var metaColumns = meta ?? row.keys.sorted()
        if let column = self.vector { metaColumns.removeAll { $0 == column } }
        var kept: [String: JSONValue] = [:]
        for column in metaColumns { if let value = row[column] { kept[column] = value } }
        return .upsert(NewMemory(id: id, namespace: namespace ?? name, text: render(row, skipping: self.vector), vector: vector,
                                 tags: tags, meta: kept, time: time))
    }

    /// The memory's text: the template with `{column}` replaced by the row's values (a
    /// missing or null column by nothing), or `column: value` for each column, by name.
    package func render(_ row: [String: JSONValue], skipping vectorColumn: String?) -> String {
        guard let template else {
            return row.keys.sorted().filter { $0 != vectorColumn && row[$0] != .null }
                .map { "\($0): \(row[$0]!.description)" }.joined(separator: "; ")
        }
        var out = ""
        for part in template {
            switch part {
            case let .literal(text): out += text
            case let .column(column): if let value = row[column], value != .null { out += value.description }
            }
        }
        return out
    }

    /// A piece of the text template: text as written, or the column whose value goes there.
    enum TemplatePart: Sendable, Equatable {
        case literal(String)
        case column(String)
    }

    /// `text` cut at each `{column}` (a `{` without a `}` after it is text).
    static func parts(_ text: String) -> [TemplatePart] {
        var parts: [TemplatePart] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            if open > rest.startIndex { parts.append(.literal(String(rest[..<open]))) }
            parts.append(.column(String(rest[rest.index(after: open)..<close])))
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        return parts
    }

    /// A vector column: a JSON array of numbers, or pgvector's text form `[0.1,0.2,…]`.
    static func vector(_ value: JSONValue, column: String) throws -> [Float] {
        switch value {
        case let .array(items):
            return try items.map {
                guard case let .number(n) = $0, n.isFinite else { throw LogParser.bad("vector column \"\(column)\" holds a value that is not a finite number") }
                return Float(n)
            }
        case let .string(text):
            guard let vector = pgvector(text) else { throw LogParser.bad("vector column \"\(column)\" is not [finite numbers]") }
            return vector
        default: throw LogParser.bad("vector column \"\(column)\" is not a list of numbers")
        }
    }

    /// pgvector's text form, `[0.1,-2,3e-1]` (spaces allowed), read straight from the string's
    /// bytes by `csimdjson_parse_floats` (fast_float: each number rounded as `strtof` rounds it,
    /// several times faster; a vector column is the bulk of a change line); nil when malformed
    /// or not finite.
    static func pgvector(_ text: String) -> [Float]? {
        var text = text
        return text.withUTF8 { bytes -> [Float]? in
            var i = 0, n = bytes.count
            while i < n, bytes[i] == 0x20 { i += 1 }
            while n > i, bytes[n - 1] == 0x20 { n -= 1 }
            guard n - i >= 2, bytes[i] == UInt8(ascii: "["), bytes[n - 1] == UInt8(ascii: "]"), let base = bytes.baseAddress else { return nil }
            // A number takes at least one digit and a comma after it.
            let capacity = (n - i) / 2 + 1
            var count = 0
            let out = [Float](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                let read = base.withMemoryRebound(to: CChar.self, capacity: n) {
                    csimdjson_parse_floats($0 + i + 1, n - i - 2, buffer.baseAddress, capacity)
                }
                count = read
                initialized = max(0, read)
            }
            return count < 0 ? nil : out
        }
    }

    /// A time value: an ISO 8601 or PostgreSQL timestamp string, or a number of seconds,
    /// milliseconds or microseconds since 1970 (told apart by size, as Debezium writes all three).
    static func time(_ value: JSONValue) -> Double? {
        switch value {
        case let .number(n) where n.isFinite:
            return abs(n) >= 1e14 ? n / 1e6 : abs(n) >= 1e11 ? n / 1e3 : n
        case let .string(s): return ISO8601Timestamp.epochSeconds(s) ?? Wal2JSON.postgresTime(s)
        default: return nil
        }
    }
}

/// A link a table mapping declares: the row's `column` names a row of `table`, by `relation`
/// (`"device_id -> devices AFFECTS"` in `[ingest.tables.NAME] links`).
public struct LinkSpec: Sendable, Equatable {
    public var column: String
    public var table: String
    public var relation: String

    public init(column: String, table: String, relation: String) {
        self.column = column
        self.table = table
        self.relation = relation
    }

    /// Parses `COLUMN -> TABLE [RELATION]` (the relation defaults to `REFERENCES`); nil when
    /// malformed.
    public init?(parsing text: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == 3 || parts.count == 4, parts[1] == "->" else { return nil }
        self.init(column: parts[0], table: parts[2], relation: parts.count == 4 ? parts[3] : "REFERENCES")
    }
}

/// The `[ingest]` section: the log format and the table mappings.
///
/// ```toml
/// [ingest]
/// format = "auto"          # auto (each file by its first line), debezium, wal2json, maxwell, engram
/// max_line_bytes = 1048576 # a longer line is a dead letter
/// batch_changes = 1000     # changes applied per write at most (a transaction is never split)
/// ```
public struct IngestSettings: Sendable, Equatable {
    public var format: LogFormat?
    public var maxLineBytes = 1 << 20
    public var batchChanges = 1000
    public var tables: [TableMapping] = []

    public static let section = "ingest"

    public init() {}

    /// Reads `[ingest]` and its `[ingest.tables.*]`.
    /// - Throws: `EngramError` `.invalidArgument` (`invalidSettings`) for an unknown key, a
    ///   wrong type or a value out of range.
    public init(_ document: SettingsDocument) throws {
        var s = try document.section(Self.section)
        let format = try s.string("format", default: "auto")
        func bad(_ message: String) -> EngramError { EngramError(.invalidArgument, "engram.toml: [ingest] \(message)", reason: .invalidSettings) }
        if format != "auto" {
            guard let f = LogFormat(rawValue: format) else {
                throw bad("format must be auto, \(LogFormat.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(format)\"")
            }
            self.format = f
        }
        maxLineBytes = try s.integer("max_line_bytes", default: maxLineBytes)
        batchChanges = try s.integer("batch_changes", default: batchChanges)
        for (name, var table) in try s.tables("tables").sorted(by: { $0.key < $1.key }) {
            tables.append(try TableMapping(name: name, &table))
        }
        try s.rejectUnknownKeys()
        guard (1...(1 << 30)).contains(maxLineBytes) else { throw bad("max_line_bytes must be between 1 and 1073741824") }
        guard (1...1_000_000).contains(batchChanges) else { throw bad("batch_changes must be between 1 and 1000000") }
    }

    /// The mapping of the log's `table`: the configured one, else the defaults under the
    /// table's name without its schema.
    public func mapping(for table: String) -> TableMapping {
        tables.first { $0.matches(table) } ?? TableMapping(name: table.split(separator: ".").last.map(String.init) ?? table)
    }

    /// What `event` does: Engram's own lines are memories already; a table's row goes
    /// through its mapping.
    /// - Throws: `EngramError` `.invalidArgument` (`malformedChange`) naming what is wrong.
    public func action(for event: ChangeEvent) throws -> TableMapping.Action {
        guard event.table == EngramLog.table else { return try mapping(for: event.table).action(for: event) }
        guard let id = event.key["id"]?.stringValue else { throw LogParser.bad("an Engram change without an id") }
        if event.operation == .delete { return .delete(id: id) }
        return .upsert(try EngramLog.memory(event.after ?? [:]))
    }
}
