/// The sources an answer cites: `[n]`, `[n, m]` and `[n][m]` mark citations of the numbered
/// passages. Numbers are read as written; each cited passage is listed once, in the order of
/// its first citation.
public struct Citations: Sendable, Equatable {
    /// Passage numbers cited, in order of first citation.
    public var cited: [Int]
    /// Numbers cited that no passage has (the model made them up): reported, not dropped.
    public var unknown: [Int]
    /// Passages given but never cited, in number order.
    public var uncited: [Int]

    /// Reads the citations of `answer`, whose context had passages `1...given`.
    public init(answer: String, given: Int) {
        var cited: [Int] = [], unknown: [Int] = []
        for n in Self.numbers(in: answer) {
            if n >= 1 && n <= given {
                if !cited.contains(n) { cited.append(n) }
            } else if !unknown.contains(n) {
                unknown.append(n)
            }
        }
        self.cited = cited
        self.unknown = unknown
        uncited = given > 0 ? (1...given).filter { !cited.contains($0) } : []
    }

    /// Every number inside square brackets that hold only numbers, commas and spaces
    /// (`[2]`, `[1, 3]`); other brackets (`[sic]`, `[1a]`) are not citations.
    static func numbers(in text: String) -> [Int] {
        brackets(in: Array(text.unicodeScalars)).flatMap(\.numbers)
    }

    /// `text` with the numbers of each citation mapped by `map`: a citation whose numbers all
    /// map to nil is removed, with the space before it.
    public static func renumber(_ text: String, _ map: (Int) -> Int?) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var at = 0
        for bracket in brackets(in: scalars) {
            var kept = bracket.numbers.compactMap(map)
            kept = kept.enumerated().filter { !kept[..<$0.offset].contains($0.element) }.map(\.element)
            var before = scalars[at..<bracket.range.lowerBound]
            if kept.isEmpty, before.last == " " { before = before.dropLast() }
            out.append(contentsOf: before)
            if !kept.isEmpty { out.append(contentsOf: "[\(kept.map(String.init).joined(separator: ", "))]".unicodeScalars) }
            at = bracket.range.upperBound
        }
        out.append(contentsOf: scalars[at...])
        return String(out)
    }

    /// The citation brackets of `scalars`: where each is and the numbers it holds.
    private static func brackets(in scalars: [Unicode.Scalar]) -> [(range: Range<Int>, numbers: [Int])] {
        var out: [(range: Range<Int>, numbers: [Int])] = []
        var i = 0
        while i < scalars.count {
            guard scalars[i] == "[" else { i += 1; continue }
            var j = i + 1
            var group: [Int] = []
            var current: Int?
            var valid = true
            while j < scalars.count, scalars[j] != "]" {
                let s = scalars[j]
                if s.isASCII, s.value >= 48, s.value <= 57 {
                    let next = (current ?? 0) * 10 + Int(s.value - 48)
                    guard next <= Self.largestNumber else { valid = false; break }
                    current = next
                } else if s == "," || s == " " {
                    if let c = current { group.append(c) }
                    current = nil
                } else {
                    valid = false
                    break
                }
                j += 1
            }
            if let c = current { group.append(c) }
            if valid, j < scalars.count, !group.isEmpty { out.append((i..<(j + 1), group)) }
            i = valid && j < scalars.count ? j + 1 : i + 1
        }
        return out
    }

    /// Brackets holding a larger number are not read as citations (no passage list is that
    /// long; it also keeps the parse from overflowing).
    static let largestNumber = 999_999
}
