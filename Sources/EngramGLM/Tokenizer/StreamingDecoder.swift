/// Turns a stream of token bytes into text without ever emitting half a UTF-8 character:
/// an incomplete sequence at the end is held back until its remaining bytes arrive.
public struct StreamingDecoder: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// Appends bytes and returns the text that is complete so far.
    public mutating func append(_ bytes: [UInt8]) -> String {
        pending += bytes
        let cut = StreamingDecoder.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns whatever is held back (an incomplete sequence becomes U+FFFD) and resets.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a UTF-8 sequence that could
    /// still be completed.
    static func completePrefixLength(_ b: [UInt8]) -> Int {
        let n = b.count
        var i = n - 1
        // Look back at most 3 bytes for the lead byte of the last sequence.
        while i >= 0 && i >= n - 4 {
            let c = b[i]
            if c & 0xC0 == 0x80 { i -= 1; continue } // continuation byte
            let need: Int
            if c < 0x80 { need = 1 } else if c & 0xE0 == 0xC0 { need = 2 } else if c & 0xF0 == 0xE0 { need = 3 } else if c & 0xF8 == 0xF0 { need = 4 } else { need = 1 }
            return n - i < need ? i : n
        }
        return n
    }
}
