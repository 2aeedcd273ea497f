/// The one error type of every Engram module: a status `code` that says what kind of
/// failure it is (the socket API sends it as is; the names are gRPC's status codes), a
/// `reason` that tells failures of the same code apart (for programs and tests), and a
/// `message` a person can act on.
///
/// User errors (`invalidArgument`, `notFound`, `alreadyExists`, `failedPrecondition`,
/// `outOfRange`) leave everything untouched. `unavailable` and `dataLoss` are faults of the
/// machine or of stored data; `internal` is a bug.
public struct EngramError: Error, Sendable, Equatable, CustomStringConvertible {
    /// gRPC's status codes (without `OK` and `UNKNOWN`).
    public enum Code: String, Sendable, CaseIterable, Codable {
        case cancelled = "CANCELLED"
        case invalidArgument = "INVALID_ARGUMENT"
        case deadlineExceeded = "DEADLINE_EXCEEDED"
        case notFound = "NOT_FOUND"
        case alreadyExists = "ALREADY_EXISTS"
        case permissionDenied = "PERMISSION_DENIED"
        case resourceExhausted = "RESOURCE_EXHAUSTED"
        case failedPrecondition = "FAILED_PRECONDITION"
        case aborted = "ABORTED"
        case outOfRange = "OUT_OF_RANGE"
        case unimplemented = "UNIMPLEMENTED"
        case `internal` = "INTERNAL"
        case unavailable = "UNAVAILABLE"
        case dataLoss = "DATA_LOSS"
        case unauthenticated = "UNAUTHENTICATED"
    }

    /// A machine-readable refinement of `code` (`WRONG_DIMENSION`, `DATABASE_IN_USE`, …).
    /// Modules declare their own reasons as static members in extensions.
    public struct Reason: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
        /// No refinement.
        public static let unspecified = Reason("UNSPECIFIED")
    }

    public let code: Code
    public let reason: Reason
    public let message: String

    public init(_ code: Code, _ message: String, reason: Reason = .unspecified) {
        self.code = code
        self.reason = reason
        self.message = message
    }

    public var description: String { message }

    /// Whether this error has `code` and, when given, `reason`: `error.is(.notFound)`.
    public func `is`(_ code: Code, _ reason: Reason? = nil) -> Bool {
        self.code == code && (reason == nil || self.reason == reason)
    }
}

#if canImport(Foundation)
import Foundation

extension EngramError: LocalizedError {
    public var errorDescription: String? { message }
}
#endif
