import EngramBase

extension EngramError.Reason {
    /// A JSON Lines record that is not valid JSON or does not have the shape of a memory
    /// (code `invalidArgument`).
    public static let malformedRecord = EngramError.Reason("MALFORMED_RECORD")
}
