import EngramIngest
import Foundation

/// What ingestion keeps in the database, written in the same batch as the changes it applies.
///
/// Column families:
/// - `ingest_rows`: memory id → the `SourcePosition` (16 bytes) of the last change applied to
///   its row, kept after a delete, so that a change delivered again, or an older one arriving
///   late, is recognised and skipped.
/// - `ingest_sources`: file path → JSON `Source` (its offset, format and counters).
/// - `ingest_dead`: file path ‖ 0x00 ‖ offset (8 bytes, big-endian) → JSON `DeadLetter`.
enum IngestState {
    static let rows = "ingest_rows"
    static let sources = "ingest_sources"
    static let dead = "ingest_dead"
    static let families = [rows, sources, dead]

    struct Source: Codable {
        var offset: Int64 = 0
        var format: LogFormat?
        var applied = 0
        var skipped = 0
        var deadLetters = 0
        var updatedAt = Timestamp(0)
        /// The file's identity when it was last read: another file at the path means the log
        /// was rotated (renamed, a new one put in its place). Nil in databases from before.
        var file: FileIdentity?
        /// This log's number among the sources, from 1 in the order they were first read
        /// (nil, read as 0, in databases from before): where a format gives no position of its
        /// own, a change's position is (generation, offset), so a later file's changes are newer.
        var generation: UInt64?
    }

    /// What identifies a file whatever its name: its device and inode.
    struct FileIdentity: Codable, Hashable {
        var device: UInt64
        var inode: UInt64

        /// The identity of the file at `path`; nil when there is none.
        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    static func source(_ path: String, in store: MemoryStore) throws -> Source? {
        try store.value(in: sources, key: Array(path.utf8)).map { try JSONDecoder().decode(Source.self, from: Data($0)) }
    }

    static func put(_ source: Source, path: String, in tx: StoreTransaction) throws {
        try tx.put(sources, key: Array(path.utf8), value: Array(try JSONEncoder().encode(source)))
    }

    /// The positions the rows `ids` have seen, by id (a row never seen has none).
    static func positions(of ids: Set<String>, in tx: StoreTransaction) throws -> [String: SourcePosition] {
        let ids = Array(ids)
        var out: [String: SourcePosition] = [:]
        for (id, value) in zip(ids, try tx.get(rows, keys: ids.map { Array($0.utf8) })) {
            if let value, let position = SourcePosition(bytes: value) { out[id] = position }
        }
        return out
    }

    static func deadKey(_ path: String, offset: Int64) -> [UInt8] {
        Array(path.utf8) + [0] + withUnsafeBytes(of: UInt64(offset).bigEndian) { Array($0) }
    }

    /// Every source, by path.
    static func allSources(in store: MemoryStore) throws -> [(String, Source)] {
        var out: [(String, Source)] = []
        try store.scan(sources, prefix: []) { key, value in
            out.append((String(decoding: key, as: UTF8.self), try JSONDecoder().decode(Source.self, from: Data(value))))
            return true
        }
        return out
    }

    /// The dead letters, by file and offset, at most `limit`.
    static func deadLetters(in store: MemoryStore, limit: Int) throws -> [DeadLetter] {
        var out: [DeadLetter] = []
        try store.scan(dead, prefix: []) { _, value in
            out.append(try JSONDecoder().decode(DeadLetter.self, from: Data(value)))
            return out.count < limit
        }
        return out
    }
}
