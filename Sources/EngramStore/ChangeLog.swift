import EngramBase
import Foundation

/// What happened to a memory at one point of the change log.
public enum ChangeKind: UInt8, Sendable, Codable {
    /// A memory was written (inserted, or replaced: then a `.delete` of its previous version
    /// comes first, with the same id).
    case upsert = 1
    /// A memory version stopped being live (deleted, or replaced).
    case delete = 2
    /// A memory was returned by a query that asked to record its access: its
    /// `lastAccessedAt` changed, nothing else (consumers that do not decay by access ignore it).
    case touch = 3
}

/// One entry of the internal change log: every committed write appends entries with
/// increasing sequence numbers, in the same write batch as the records they describe.
public struct ChangeRecord: Sendable, Equatable {
    public var seq: UInt64
    public var kind: ChangeKind
    /// The memory's id (empty for entries written by format-1 databases).
    public var id: String
    /// The internal label of the memory version concerned.
    public var label: Int64
}

/// The change log's encoding and its consumers' watermarks.
///
/// Derived structures (the vector index; later the graph and the response cache) follow the
/// records through the log: each is a named consumer with a durable watermark, the last
/// sequence number it has applied durably. The log is trimmed at the lowest watermark, so a
/// consumer that falls behind keeps its changes. A consumer whose watermark is below the
/// trim point (it was registered after the log was trimmed) must rebuild from the records.
enum ChangeLog {
    /// The consumer that keeps the vector index; its watermark is the newest snapshot's.
    static let indexConsumer = "index"

    static func watermarkKey(_ consumer: String) -> [UInt8] { Array("consumer:\(consumer)".utf8) }

    /// `u8 kind, u64 label (little-endian), id bytes` (format 1 wrote only kind and label).
    static func encode(_ kind: ChangeKind, label: Int64, id: String) -> [UInt8] {
        var out: [UInt8] = [kind.rawValue]
        out.reserveCapacity(9 + id.utf8.count)
        withUnsafeBytes(of: UInt64(bitPattern: label).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: id.utf8)
        return out
    }

    static func decode(seq: UInt64, _ value: UnsafeRawBufferPointer) throws -> ChangeRecord {
        guard value.count >= 9, let kind = ChangeKind(rawValue: value[0]) else {
            throw EngramError.corrupt("change-log entry \(seq) is malformed")
        }
        let label = Int64(bitPattern: UInt64(littleEndian: value.loadUnaligned(fromByteOffset: 1, as: UInt64.self)))
        let id = String(decoding: UnsafeRawBufferPointer(rebasing: value[9...]), as: UTF8.self)
        return ChangeRecord(seq: seq, kind: kind, id: id, label: label)
    }
}

/// Where a consumer of the change log stands.
public struct ConsumerState: Sendable, Equatable {
    public var name: String
    /// The last change the consumer applied durably.
    public var watermark: UInt64
    /// Changes at or below this were trimmed from the log. A consumer whose watermark is
    /// lower must rebuild from the records instead of replaying.
    public var trimmedThrough: UInt64
    public var mustRebuild: Bool { watermark < trimmedThrough }

    public init(name: String, watermark: UInt64, trimmedThrough: UInt64) {
        self.name = name
        self.watermark = watermark
        self.trimmedThrough = trimmedThrough
    }
}
