import EngramBase
import Foundation

/// The store's failures, as `EngramError`s with reasons of their own.
///
/// User errors (bad input, unknown ids) leave the database untouched. Storage errors mean
/// the write was not acknowledged; nothing acknowledged before it is affected.
extension EngramError.Reason {
    /// A vector's length differs from the database's dimension.
    public static let wrongDimension = Self("WRONG_DIMENSION")
    /// A vector holds NaN or an infinity.
    public static let nonFiniteVector = Self("NON_FINITE_VECTOR")
    /// A vector whose norm is zero (cosine similarity is undefined for it).
    public static let zeroVector = Self("ZERO_VECTOR")
    /// A bad field value in a memory, a query or a request.
    public static let badValue = Self("BAD_VALUE")
    /// No memory has this id.
    public static let memoryNotFound = Self("MEMORY_NOT_FOUND")
    /// The directory exists but is not an Engram database.
    public static let notADatabase = Self("NOT_A_DATABASE")
    /// `init` on a directory that already holds a database.
    public static let databaseExists = Self("DATABASE_EXISTS")
    /// Another process holds the database's write lock.
    public static let databaseInUse = Self("DATABASE_IN_USE")
    /// The database was opened read-only and a write was attempted.
    public static let readOnly = Self("READ_ONLY")
    /// A failure of the storage engine or the file system (disk full, permissions, I/O).
    public static let storageFailure = Self("STORAGE_FAILURE")
    /// Stored data that cannot be decoded or is inconsistent.
    public static let corruptData = Self("CORRUPT_DATA")
    /// The ANN index library failed.
    public static let indexFailure = Self("INDEX_FAILURE")
    /// The database was closed.
    public static let closed = Self("CLOSED")
    /// The database was written by a newer Engram.
    public static let newerFormat = Self("NEWER_FORMAT")
}

extension EngramError {
    public static func wrongDimension(id: String, expected: Int, got: Int) -> EngramError {
        EngramError(.invalidArgument, "memory '\(id)': vector has \(got) dimensions, but this database stores \(expected)",
                    reason: .wrongDimension)
    }
    public static func nonFiniteVector(id: String) -> EngramError {
        EngramError(.invalidArgument, "memory '\(id)': vector contains NaN or infinity", reason: .nonFiniteVector)
    }
    public static func zeroVector(id: String) -> EngramError {
        EngramError(.invalidArgument, "memory '\(id)': vector is all zeros (its direction, and so its similarity, is undefined)",
                    reason: .zeroVector)
    }
    public static func invalidArgument(_ message: String) -> EngramError {
        EngramError(.invalidArgument, message, reason: .badValue)
    }
    public static func notFound(id: String) -> EngramError {
        EngramError(.notFound, "no memory with id '\(id)'", reason: .memoryNotFound)
    }
    public static func notADatabase(path: String, reason why: String) -> EngramError {
        EngramError(.failedPrecondition,
                    "\(path) is not an Engram database (\(why)); create one with `engram init --db \(path)`",
                    reason: .notADatabase)
    }
    public static func alreadyExists(path: String) -> EngramError {
        EngramError(.alreadyExists, "\(path) already holds an Engram database", reason: .databaseExists)
    }
    public static func databaseInUse(path: String) -> EngramError {
        EngramError(.unavailable,
                    "database is in use: another process has \(path) open for writing (stop it, or wait for it to finish)",
                    reason: .databaseInUse)
    }
    public static let readOnly = EngramError(.failedPrecondition, "the database was opened read-only; this operation writes",
                                             reason: .readOnly)
    public static func storage(_ message: String) -> EngramError {
        EngramError(.unavailable, "storage error: \(message)", reason: .storageFailure)
    }
    public static func corrupt(_ message: String) -> EngramError {
        EngramError(.dataLoss, "corrupt data: \(message)", reason: .corruptData)
    }
    public static func index(_ message: String) -> EngramError {
        EngramError(.internal, "index error: \(message)", reason: .indexFailure)
    }
    public static let closed = EngramError(.failedPrecondition, "the database is closed", reason: .closed)

    /// Maps a RocksDB status string to the most specific error.
    static func fromRocksDB(_ message: String, path: String) -> EngramError {
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
        if lower.contains("corruption") { return .corrupt(message) }
        return .storage(message)
    }

    /// Whether this is a fault of the storage (after which writes stop until reopened).
    var isStorageFailure: Bool { reason == .storageFailure }
}
