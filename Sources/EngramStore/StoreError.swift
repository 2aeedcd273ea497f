import Foundation

/// Errors from the memory store. Each message says what went wrong and what to do.
///
/// User errors (bad input, unknown ids) leave the database untouched. Storage errors mean
/// the write was not acknowledged; nothing acknowledged before it is affected.
public enum StoreError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// A vector's length differs from the database's dimension.
    case wrongDimension(id: String, expected: Int, got: Int)
    /// A vector holds NaN or an infinity.
    case nonFiniteVector(id: String)
    /// A vector whose norm is zero (cosine similarity is undefined for it).
    case zeroVector(id: String)
    /// A bad field value in a memory or a query.
    case invalidArgument(String)
    /// No memory has this id.
    case notFound(id: String)
    /// The directory exists but is not an Engram database.
    case notADatabase(path: String, reason: String)
    /// `init` on a directory that already holds a database.
    case alreadyExists(path: String)
    /// Another process holds the database's write lock.
    case databaseInUse(path: String)
    /// The database was opened read-only and a write was attempted.
    case readOnly
    /// A failure of the storage engine or the file system (disk full, permissions, I/O).
    case storage(String)
    /// The ANN index library failed.
    case index(String)
    /// The database was closed.
    case closed

    public var description: String {
        switch self {
        case let .wrongDimension(id, expected, got):
            return "memory '\(id)': vector has \(got) dimensions, but this database stores \(expected)"
        case let .nonFiniteVector(id):
            return "memory '\(id)': vector contains NaN or infinity"
        case let .zeroVector(id):
            return "memory '\(id)': vector is all zeros (its direction, and so its similarity, is undefined)"
        case let .invalidArgument(message):
            return message
        case let .notFound(id):
            return "no memory with id '\(id)'"
        case let .notADatabase(path, reason):
            return "\(path) is not an Engram database (\(reason)); create one with `engram init --db \(path)`"
        case let .alreadyExists(path):
            return "\(path) already holds an Engram database"
        case let .databaseInUse(path):
            return "database is in use: another process has \(path) open for writing (stop it, or wait for it to finish)"
        case .readOnly:
            return "the database was opened read-only; this operation writes"
        case let .storage(message):
            return "storage error: \(message)"
        case let .index(message):
            return "index error: \(message)"
        case .closed:
            return "the database is closed"
        }
    }

    public var errorDescription: String? { description }

    /// Maps a RocksDB status string to the most specific error.
    static func fromRocksDB(_ message: String, path: String) -> StoreError {
        let lower = message.lowercased()
        if lower.contains("lock") && (lower.contains("temporarily unavailable") || lower.contains("lock hold")) {
            return .databaseInUse(path: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        }
        if lower.contains("no space left") {
            return .storage("the disk is full (\(message)); free space and retry — nothing acknowledged was lost")
        }
        if lower.contains("read-only file system") || lower.contains("permission denied") {
            return .storage("cannot write to the database directory (\(message))")
        }
        return .storage(message)
    }
}
