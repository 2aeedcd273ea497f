import EngramBase
import EngramStore
import Testing

@Suite("DurationText")
struct DurationTextTests {
    @Test func parse() throws {
        #expect(try DurationText.parse("90m") == 5400)
        #expect(try DurationText.parse("30d") == 30 * 86_400)
        #expect(try DurationText.parse(" 2W ") == 2 * 604_800)
        #expect(try DurationText.parse("45s") == 45)
        #expect(try DurationText.parse("1.5h") == 5400)
        #expect(try DurationText.parse("3600") == 3600)
        #expect(try DurationText.parse("52178w") == 52_178 * 604_800)
        #expect(try DurationText.parse("31557600000") == DurationText.maximum)
    }

    @Test("refused: no number, not positive, not finite, longer than 1000 years", arguments: [
        "", "d", "soon", "12 h", "0", "0d", "-5d", "nan", "inf", "infd", "1e300d", "1e308w", "52179w", "31557600001",
    ])
    func parseRefuses(text: String) throws {
        let error = #expect(throws: EngramError.self) { try DurationText.parse(text) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'\(text)'") == true)
    }

    @Test func format() throws {
        #expect(DurationText.format(30 * 86_400) == "30d")
        #expect(DurationText.format(2 * 604_800) == "2w")
        #expect(DurationText.format(5400) == "90m")
        #expect(DurationText.format(7200) == "2h")
        #expect(DurationText.format(45) == "45s")
        #expect(DurationText.format(1.5) == "1.5s")
        #expect(DurationText.format(86_401) == "86401s")
        // Total: values no setting accepts format without trapping.
        #expect(DurationText.format(1e300) == "1e+300s")
        #expect(DurationText.format(.infinity) == "infs")
        #expect(DurationText.format(-.infinity) == "-infs")
        #expect(DurationText.format(.nan) == "nans")
        #expect(DurationText.format(-60) == "-60.0s")
    }

    @Test("parse(format(x)) == x for what parse returns", arguments: [
        DurationText.maximum, 52_178 * 604_800, 30 * 86_400, 3 * 86_400 + 1, 5400, 90, 1.5, 0.001, 1e-9,
    ] as [Double])
    func roundTrip(seconds: Double) throws {
        #expect(try DurationText.parse(DurationText.format(seconds)) == seconds)
    }
}
