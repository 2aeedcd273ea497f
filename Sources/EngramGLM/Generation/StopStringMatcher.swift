/// Finds stop strings in streamed text. Output that might be the start of a stop string is
/// held back until it is decided, so a stop string split across tokens never leaks out.
public struct StopStringMatcher: Sendable {
    public let stops: [String]
    private var held = ""

    public init(_ stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }
    }

    /// Feeds text; returns what can be emitted now and whether a stop string was found (the
    /// text before it is emitted, the stop string and everything after are dropped).
    public mutating func feed(_ text: String) -> (emit: String, stopped: Bool) {
        held += text
        for stop in stops {
            if let r = held.range(of: stop) {
                let out = String(held[..<r.lowerBound])
                held = ""
                return (out, true)
            }
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        var keep = 0
        for stop in stops {
            let maxLen = min(stop.count - 1, held.count)
            if maxLen <= 0 { continue }
            for len in stride(from: maxLen, to: keep, by: -1) where held.hasSuffix(stop.prefix(len)) {
                keep = len
                break
            }
        }
        let cut = held.index(held.endIndex, offsetBy: -keep)
        let out = String(held[..<cut])
        held = String(held[cut...])
        return (out, false)
    }

    /// Releases whatever is held back (at the end of generation).
    public mutating func flush() -> String {
        defer { held = "" }
        return held
    }
}
