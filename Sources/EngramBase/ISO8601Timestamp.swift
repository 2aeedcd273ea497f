/// A strict parser for the one ISO 8601 form Engram reads and writes:
/// `YYYY-MM-DDTHH:MM:SS(.fraction)?(Z|±HH:MM)` (RFC 3339's `date-time`, upper-case `T` and
/// `Z`, no leap second).
///
/// Hand-written rather than `ISO8601DateFormatter` because imports parse one timestamp per
/// record: the formatter costs microseconds and allocations per call, which made it a
/// bottleneck of `engram import`, and it is lenient in ways that hide mistakes (it reads
/// 2023-02-29 as March 1, `24:00:01`, offsets such as `+25:00` or `+0200`, and `GMT`), and it
/// drops the digits of a fraction past milliseconds.
///
/// Dates are in the proleptic Gregorian calendar, as ISO 8601 prescribes (Foundation's
/// formatter switches to the Julian calendar before 1582-10-15).
public enum ISO8601Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z, or nil when `text` is not exactly of the form
    /// above with a valid calendar date (years 0000–9999), hour 00–23, minute and second
    /// 00–59 and a zone offset of at most 23:59. The fraction may have any number of digits;
    /// the first nine count.
    public static func epochSeconds(_ text: UnsafeRawBufferPointer) -> Double? {
        let n = text.count
        guard n >= 20 else { return nil }

        /// The decimal value of `count` ASCII digits at `at`, or nil.
        func number(_ at: Int, _ count: Int) -> Int? {
            var value = 0
            for i in at..<(at + count) {
                let digit = Int(text[i]) &- 0x30
                guard digit >= 0 && digit <= 9 else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard text[4] == UInt8(ascii: "-"), text[7] == UInt8(ascii: "-"), text[10] == UInt8(ascii: "T"),
              text[13] == UInt8(ascii: ":"), text[16] == UInt8(ascii: ":"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), day >= 1, day <= daysInMonth(month, year: year),
              hour <= 23, minute <= 59, second <= 59
        else { return nil }

        var i = 19
        var nanoseconds = 0
        if text[i] == UInt8(ascii: ".") {
            i += 1
            let first = i
            var scale = 100_000_000
            while i < n, let digit = number(i, 1) {
                nanoseconds += digit * scale
                scale /= 10
                i += 1
            }
            guard i > first else { return nil }
        }

        guard i < n else { return nil }
        var offset = 0
        switch text[i] {
        case UInt8(ascii: "Z"):
            guard i + 1 == n else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard i + 6 == n, text[i + 3] == UInt8(ascii: ":"),
                  let hours = number(i + 1, 2), let minutes = number(i + 4, 2), hours <= 23, minutes <= 59
            else { return nil }
            offset = (hours * 60 + minutes) * 60 * (text[i] == UInt8(ascii: "+") ? 1 : -1)
        default:
            return nil
        }
        let seconds = daysSinceEpoch(year: year, month: month, day: day) * 86_400
            + hour * 3_600 + minute * 60 + second - offset
        return Double(seconds) + Double(nanoseconds) / 1e9
    }

    /// `epochSeconds` of the UTF-8 bytes of `text`.
    public static func epochSeconds(_ text: String) -> Double? {
        var text = text
        return text.withUTF8 { epochSeconds(UnsafeRawBufferPointer($0)) }
    }

    private static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// `seconds` since 1970 as `YYYY-MM-DDTHH:MM:SSZ`, or with milliseconds (`…SS.mmmZ`,
    /// rounded to the nearest) when `fraction`; nil outside the years 0000…9999. Written by
    /// hand for the same reason as the parser: every answer of a query carries times, and
    /// `ISO8601DateFormatter` costs a formatter (ICU) each time.
    public static func format(_ seconds: Double, fraction: Bool) -> String? {
        var bytes: [UInt8] = []
        guard write(seconds, fraction: fraction, to: &bytes) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `format(seconds, fraction:)`'s text to `out` (the socket API writes answers
    /// as bytes: no string made per time); false, with nothing appended, where `format` gives
    /// nil.
    public static func write(_ seconds: Double, fraction: Bool, to out: inout [UInt8]) -> Bool {
        guard seconds.isFinite, abs(seconds) < 1e12 else { return false }
        let millis = fraction ? Int64((seconds * 1000).rounded()) : Int64(seconds.rounded(.down)) * 1000
        func floorDivision(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
        let totalSeconds = floorDivision(millis, 1000)
        let days = floorDivision(totalSeconds, 86_400)
        let secondsOfDay = Int(totalSeconds - days * 86_400)
        let milliseconds = Int(millis - totalSeconds * 1000)
        let (year, month, day) = civil(daysSinceEpoch: Int(days))
        guard (0...9999).contains(year) else { return false }
        // `YYYY-MM-DDTHH:MM:SS.mmmZ`, digit by digit (string interpolation of padded numbers
        // cost a microsecond a time).
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: fraction ? 24 : 20))
        out.withUnsafeMutableBufferPointer { all in
            let bytes = UnsafeMutableBufferPointer(rebasing: all[start...])
            func put(_ v: Int, _ width: Int, at end: Int) {
                var v = v
                for i in stride(from: end - 1, through: end - width, by: -1) {
                    bytes[i] = 0x30 + UInt8(v % 10)
                    v /= 10
                }
            }
            put(year, 4, at: 4)
            put(month, 2, at: 7)
            put(day, 2, at: 10)
            put(secondsOfDay / 3600, 2, at: 13)
            put(secondsOfDay / 60 % 60, 2, at: 16)
            put(secondsOfDay % 60, 2, at: 19)
            (bytes[4], bytes[7], bytes[10], bytes[13], bytes[16]) = (0x2D, 0x2D, 0x54, 0x3A, 0x3A)  // - - T : :
            if fraction {
                bytes[19] = 0x2E
                put(milliseconds, 3, at: 23)
            }
            bytes[bytes.count - 1] = 0x5A
        }
        return true
    }

    /// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    private static func civil(daysSinceEpoch days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil`).
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
