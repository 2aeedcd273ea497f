import EngramStore

/// One row change from another database's change log, whatever the log's format.
public struct ChangeEvent: Sendable, Equatable {
    public enum Operation: String, Sendable, Codable {
        /// A new row (Debezium `c` and snapshot reads `r`, wal2json `I`, Maxwell `insert`).
        case insert
        case update
        case delete
    }

    public var operation: Operation
    /// The source table, `schema.table` where the log names a schema (`public.faults`).
    public var table: String
    /// The row's primary key columns and values (from the log's key, identity or old keys;
    /// empty when the log gives none, and the table mapping then names the key columns).
    public var key: [String: JSONValue]
    /// The row before the change (updates and deletes, when the log carries it).
    public var before: [String: JSONValue]?
    /// The row after the change (inserts and updates).
    public var after: [String: JSONValue]?
    /// When the source committed the change, seconds since 1970 (nil when the log does not say).
    public var commitTime: Double?
    /// The source transaction (xid, txId), when the log says.
    public var transaction: String?
    /// Where the change sits in the source's history, for exactly-once application.
    public var position: SourcePosition

    public init(operation: Operation, table: String, key: [String: JSONValue] = [:], before: [String: JSONValue]? = nil,
                after: [String: JSONValue]? = nil, commitTime: Double? = nil, transaction: String? = nil,
                position: SourcePosition) {
        self.operation = operation
        self.table = table
        self.key = key
        self.before = before
        self.after = after
        self.commitTime = commitTime
        self.transaction = transaction
        self.position = position
    }

    /// The row as the change leaves it, or as it was before a delete.
    public var row: [String: JSONValue] { after ?? before ?? [:] }
}

/// A place in a source's history, ordered: a change at a later position is newer, and a
/// change at the same position is the same change delivered again.
///
/// `log` is the source's own position where the format gives one (a PostgreSQL LSN; a MySQL
/// binlog file number and offset packed as `file << 32 | offset`), else 0; `index` orders the
/// changes that share it (Maxwell's `xoffset`, Debezium's `row`), or, without a native
/// position, is the line's byte offset in the log file.
public struct SourcePosition: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var log: UInt64
    public var index: UInt64

    public init(log: UInt64, index: UInt64) {
        self.log = log
        self.index = index
    }

    public static func < (a: SourcePosition, b: SourcePosition) -> Bool {
        (a.log, a.index) < (b.log, b.index)
    }

    public var description: String { log == 0 ? "offset \(index)" : "\(Self.lsn(log))#\(index)" }

    /// A PostgreSQL LSN as it prints (`16/B374D848`).
    static func lsn(_ value: UInt64) -> String {
        String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    /// Parses a PostgreSQL LSN (`16/B374D848`); nil when malformed.
    public static func parseLSN(_ text: String) -> UInt64? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16),
              high <= 0xFFFF_FFFF, low <= 0xFFFF_FFFF else { return nil }
        return high << 32 | low
    }

    /// 16 bytes, big-endian: byte order is position order.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: log.bigEndian) { Array($0) } + withUnsafeBytes(of: index.bigEndian) { Array($0) }
    }

    /// Reads `bytes`; nil unless there are 16.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        let b = Array(bytes)
        log = b[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        index = b[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }
}
