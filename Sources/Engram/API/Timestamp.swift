import EngramBase
import EngramStore
import Foundation

/// A moment in time, in seconds since the Unix epoch (UTC).
///
/// JSON: written as an ISO 8601 string (`2024-05-01T12:00:00Z`, fractional seconds when
/// there are any); read from such a string (any zone offset) or from a number of epoch
/// seconds.
public struct Timestamp: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: Double

    public init(_ seconds: Double) { self.seconds = seconds }

    /// Parses ISO 8601 with a zone, or epoch seconds; `field` names the value in errors.
    public init(parsing text: String, field: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(t) {
            guard seconds.isFinite else { throw EngramError.invalidArgument("\(field): '\(text)' is not a finite time") }
            self.seconds = seconds
            return
        }
        // The same strict parser as the import's (one definition of a valid time).
        if let seconds = ISO8601Timestamp.epochSeconds(t) {
            self.seconds = seconds
            return
        }
        throw EngramError.invalidArgument("\(field): '\(text)' is not a time; use ISO 8601 with a zone (2024-05-01T12:00:00Z) or epoch seconds")
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Double.self) {
            guard n.isFinite else { throw EngramError.invalidArgument("a time must be finite") }
            self.init(n)
            return
        }
        let field = decoder.codingPath.map(\.stringValue).joined(separator: ".")
        try self.init(parsing: try c.decode(String.self), field: field.isEmpty ? "time" : field)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(iso8601)
    }

    /// ISO 8601 in UTC, with fractional seconds only when there are any.
    public var iso8601: String {
        let fraction = seconds != seconds.rounded()
        if let text = ISO8601Timestamp.format(seconds, fraction: fraction) { return text }
        let f = ISO8601DateFormatter()
        f.formatOptions = seconds == seconds.rounded() ? [.withInternetDateTime] : [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }

    /// Appends `iso8601` as a JSON string (quoted; its characters need no escape).
    package func writeJSON(to out: inout [UInt8]) {
        out.append(0x22)
        if !ISO8601Timestamp.write(seconds, fraction: seconds != seconds.rounded(), to: &out) { out += iso8601.utf8 }
        out.append(0x22)
    }

    public var description: String { iso8601 }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.seconds < b.seconds }
}

/// A length of time in seconds. JSON: read from `"90m"`, `"12h"`, `"30d"`, `"2w"` or a number
/// of seconds; written in the largest whole unit (`"30d"`).
public struct TimeSpan: Codable, Sendable, Hashable, CustomStringConvertible {
    public var seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    public init(parsing text: String) throws { seconds = try DurationText.parse(text) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Double.self) {
            guard n.isFinite, n > 0 else { throw EngramError.invalidArgument("a duration must be a positive number of seconds") }
            seconds = n
        } else {
            seconds = try DurationText.parse(try c.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(DurationText.format(seconds))
    }

    public var description: String { DurationText.format(seconds) }
}
