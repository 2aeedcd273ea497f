import EngramBase
import Engram
import Foundation
import Testing

/// What `engram import` used before: Foundation's formatter, without then with fractional
/// seconds.
private func foundation(_ text: String) -> Double? {
    for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = options
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
    }
    return nil
}

@Suite("ISO8601Timestamp")
struct ISO8601TimestampTests {
    @Test("fixed values agree with Foundation: fractions, offsets, leap days, ends of ranges")
    func fixedValues() {
        let cases: [(String, Double)] = [
            ("2024-05-01T12:00:00Z", 1_714_564_800),
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59Z", -1),
            ("1969-12-31T23:59:59.5Z", -0.5),
            ("2024-05-01T12:00:00.5Z", 1_714_564_800.5),
            ("2024-05-01T12:00:00.25+02:00", 1_714_557_600.25),
            ("2024-05-01T12:00:00-00:00", 1_714_564_800),
            ("2024-05-01T12:00:00+14:00", 1_714_514_400),
            ("2024-05-01T12:00:00-12:00", 1_714_608_000),
            ("2024-05-01T12:00:00+05:45", 1_714_544_100),
            ("2024-05-01T00:30:00+23:59", 1_714_437_060),
            ("2024-02-29T00:00:00Z", 1_709_164_800),
            ("2000-02-29T23:59:59Z", 951_868_799),
            ("2023-03-01T00:00:00Z", 1_677_628_800),
            ("2024-12-31T23:59:59Z", 1_735_689_599),
            ("9999-12-31T23:59:59Z", 253_402_300_799),
            ("1583-01-01T00:00:00Z", -12_212_553_600),
        ]
        for (text, seconds) in cases {
            #expect(ISO8601Timestamp.epochSeconds(text) == seconds, "\(text)")
            #expect(foundation(text) == seconds, "Foundation: \(text)")
        }
    }

    @Test("fractions keep more than milliseconds (Foundation truncates to milliseconds)")
    func fractionDigits() throws {
        let base = 1_714_564_800.0
        #expect(ISO8601Timestamp.epochSeconds("2024-05-01T12:00:00.123456Z") == base + 0.123456)
        #expect(ISO8601Timestamp.epochSeconds("2024-05-01T12:00:00.999999999Z") == base + 0.999999999)
        // Digits past the ninth are read and ignored.
        #expect(ISO8601Timestamp.epochSeconds("2024-05-01T12:00:00.1234567899999Z") == base + 0.123456789)
        #expect(ISO8601Timestamp.epochSeconds("2024-05-01T12:00:00.000000000000000000000001Z") == base)
        let foundationValue = try #require(foundation("2024-05-01T12:00:00.123456Z"))
        #expect(abs(foundationValue - (base + 0.123)) < 1e-6)
    }

    @Test("before 1583: the proleptic Gregorian calendar of ISO 8601 (Foundation switches to the Julian calendar)")
    func earlyDates() {
        #expect(ISO8601Timestamp.epochSeconds("0000-01-01T00:00:00Z") == -62_167_219_200)
        #expect(ISO8601Timestamp.epochSeconds("0001-01-01T00:00:00Z") == -62_135_596_800)
        #expect(ISO8601Timestamp.epochSeconds("1000-01-01T00:00:00Z") == -30_610_224_000)
        #expect(ISO8601Timestamp.epochSeconds("1582-10-04T00:00:00Z") == -12_220_243_200)
        #expect(ISO8601Timestamp.epochSeconds("0000-02-29T00:00:00Z") != nil)  // year 0 is a leap year
        #expect(foundation("0000-01-01T00:00:00Z") == -62_167_392_000)  // two days off
    }

    @Test("20,000 random timestamps agree with Foundation's formatter and calendar (seeded)")
    func randomAgainstFoundation() throws {
        let seed = testSeed("ISO8601TimestampTests")
        var rng = SeededRandom(seed: seed)
        for _ in 0..<20_000 {
            let year = Int.random(in: 1583...9999, using: &rng)
            let month = Int.random(in: 1...12, using: &rng)
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
            // Month ends and leap days often.
            let day = Bool.random(using: &rng) ? days : Int.random(in: 1...days, using: &rng)
            let (hour, minute, second) = (Int.random(in: 0...23, using: &rng), Int.random(in: 0...59, using: &rng), Int.random(in: 0...59, using: &rng))
            let digits = Int.random(in: 0...9, using: &rng)
            let fraction = (0..<digits).map { _ in String(Int.random(in: 0...9, using: &rng)) }.joined()
            let offsetMinutes = Bool.random(using: &rng) ? 0 : Int.random(in: -(23 * 60 + 59)...(23 * 60 + 59), using: &rng)
            let zone = offsetMinutes == 0 && Bool.random(using: &rng) ? "Z"
                : String(format: "%@%02d:%02d", offsetMinutes < 0 ? "-" : "+", abs(offsetMinutes) / 60, abs(offsetMinutes) % 60)
            let text = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", year, month, day, hour, minute, second)
                + (digits > 0 ? "." + fraction : "") + zone

            let mine = try #require(ISO8601Timestamp.epochSeconds(text), "\(text)")
            let nanoseconds = Int((fraction + String(repeating: "0", count: 9 - digits)).prefix(9)) ?? 0
            let expected = Double(calendarSeconds(year, month, day, hour, minute, second) - offsetMinutes * 60) + Double(nanoseconds) / 1e9
            #expect(mine == expected, "\(text)")
            let theirs = try #require(foundation(text), "Foundation: \(text)")
            // Foundation keeps milliseconds (truncated), to within a few units in the last place.
            #expect(abs(mine - theirs) < (digits <= 3 ? 1e-6 : 1e-3 + 4 * mine.ulp), "\(text): \(mine) vs Foundation \(theirs)")
        }
    }

    @Test("inputs both refuse")
    func bothRefuse() {
        let texts = [
            "", "yesterday", "2024-05-01", "2024-05-01T12:00:00", "2024-05-01T12:00:00.5", "2024-05-01 12:00:00Z",
            "2024-05-01t12:00:00z", "2024-05-01T12:00Z", "20240501T120000Z", "2024-13-01T12:00:00Z",
            "2024-00-01T12:00:00Z", "2024-05-00T12:00:00Z", "2024-05-32T12:00:00Z", "2024-05-01T25:00:00Z",
            "2024-05-01T12:60:00Z", "2024-05-01T23:59:60Z", "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00,5Z",
            "x2024-05-01T12:00:00Z",
        ]
        for text in texts {
            #expect(ISO8601Timestamp.epochSeconds(text) == nil, "\(text)")
            #expect(foundation(text) == nil, "Foundation: \(text)")
        }
    }

    @Test("lenient forms Foundation accepts and this parser refuses")
    func stricterThanFoundation() {
        let texts = [
            "2023-02-29T12:00:00Z", "2024-02-30T12:00:00Z", "2024-04-31T00:00:00Z", "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00+0200", "2024-05-01T12:00:00+02", "2024-05-01T12:00:00+25:00",
            "2024-05-01T12:00:00+02:60", "2024-05-01T12:00:00GMT", "2024-05-01T12:00:00UTC", "2024-5-01T12:00:00Z",
            "2024-05-01T12:00:00.-5Z", "12345-05-01T12:00:00Z", "-2024-05-01T12:00:00Z", "2024-05-01T12:00:00ZZ",
            "2024-05-01T12:00:00Z ",
        ]
        for text in texts {
            #expect(ISO8601Timestamp.epochSeconds(text) == nil, "\(text)")
            #expect(foundation(text) != nil, "Foundation: \(text)")
        }
    }

    @Test("mutated bytes: no crash, and only the exact form parses")
    func hostileBytes() throws {
        let form = try Regex(#"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"#)
        var rng = SeededRandom(seed: 7)
        let valid = Array("2024-05-01T12:00:00.123+02:00".utf8)
        for _ in 0..<20_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
                default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
                }
            }
            let parsed = bytes.withUnsafeBytes { ISO8601Timestamp.epochSeconds($0) }
            if parsed != nil {
                let text = try #require(String(validating: bytes, as: UTF8.self))
                #expect(try form.wholeMatch(in: text) != nil, "\(text)")
            }
        }
        #expect(ISO8601Timestamp.epochSeconds(UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
    }

    @Test("format writes what ISO8601DateFormatter writes, with and without milliseconds (random times, seeded; at an exact half millisecond either neighbour)")
    func formatting() {
        var random = SeededRandom(seed: testSeed("ISO8601TimestampTests.formatting"))
        let fixed: [Double] = [0, -1, 1_780_000_000, 1_780_000_000.5, 1_780_000_000.9995, 1_780_000_000.0004, 951_782_400, -2_208_988_800.25,
                               253_402_300_799, -12_219_292_800]
        let randomTimes = (0..<5000).map { _ in Double.random(in: -12_219_292_800...253_402_300_799, using: &random) }
        for seconds in fixed + randomTimes + randomTimes.map({ $0.rounded(.down) }) {
            let fraction = seconds != seconds.rounded()
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = fraction ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
            let ours = ISO8601Timestamp.format(seconds, fraction: fraction), theirs = formatter.string(from: Date(timeIntervalSince1970: seconds))
            if ours != theirs {
                // Within a microsecond of half a millisecond the double's last bit decides, and
                // the two round it differently: there, and only there, they may differ by 1 ms
                // (measured on the parsed times, which carry a double's error of ~2 µs out there).
                let half = abs((seconds * 1000 - (seconds * 1000).rounded(.down)) - 0.5)
                let gap = (ours.flatMap { ISO8601Timestamp.epochSeconds($0) } ?? .nan) - (ISO8601Timestamp.epochSeconds(theirs) ?? .nan)
                #expect(fraction && half < 1e-3 && abs(abs(gap) - 0.001) < 1e-5, "\(seconds): \(ours ?? "nil") against \(theirs)")
            }
        }
    }
}
