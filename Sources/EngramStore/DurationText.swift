import EngramBase
import Foundation

/// Durations written as `45s`, `90m`, `12h`, `30d`, `2w` (or plain seconds: `3600`, `0.5`).
public enum DurationText {
    /// The longest duration accepted: 1,000 years of 365.25 days (31,557,600,000 seconds).
    /// Anything within it converts to `Int` seconds without overflow.
    public static let maximum: Double = 1000 * 365.25 * 86_400

    private static let units: [(suffix: Character, seconds: Double)] = [
        ("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60), ("s", 1),
    ]

    /// The seconds in `text`: a positive decimal number, optionally followed by one unit
    /// (`s`, `m`, `h`, `d`, `w`, in either case), at most `maximum`.
    ///
    /// - Throws: `EngramError` (`invalidArgument`) for anything else: no number, zero,
    ///   negative, NaN, infinite, or longer than 1,000 years (`1e300d`).
    public static func parse(_ text: String) throws -> Double {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        var number = Substring(t), scale = 1.0
        if let last = t.last, let unit = units.first(where: { $0.suffix == last }) {
            number = t.dropLast()
            scale = unit.seconds
        }
        guard let value = Double(number), value.isFinite, value > 0 else {
            throw EngramError(.invalidArgument, "invalid duration '\(text)': use a positive number with a unit, e.g. 90m, 12h, 30d")
        }
        let seconds = value * scale
        guard seconds <= maximum else {
            throw EngramError(.invalidArgument, "duration '\(text)' is longer than the limit of 1000 years")
        }
        return seconds
    }

    /// `seconds` in the largest unit that holds it a whole number of times (`2592000` → `30d`,
    /// `5400` → `90m`), else as plain seconds (`1.5s`).
    ///
    /// Total: never traps, whatever the value (negative, huge, NaN). For every value
    /// `parse` returns, `parse(format(x)) == x`.
    public static func format(_ seconds: Double) -> String {
        for unit in units where seconds >= unit.seconds {
            if let whole = Int(exactly: seconds / unit.seconds), Double(whole) * unit.seconds == seconds {
                return "\(whole)\(unit.suffix)"
            }
        }
        return "\(seconds)s"
    }
}
