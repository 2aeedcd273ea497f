import EngramBase

/// Groups the records of a change log into units that apply atomically: a source transaction
/// (wal2json `B`…`C`, Debezium `BEGIN`…`END`, a wal2json version-1 line, Maxwell changes up
/// to `commit`, consecutive Debezium changes of one transaction id), or a single change.
///
/// Lines are given in file order with their offsets. A unit is complete when its end is seen;
/// `finish` ends a transaction known only by its id at the end of the input (nothing more of
/// it can follow in a file read to its end), while one opened by a marker waits for its
/// commit. A unit carries the offset just past its last line: the source's offset moves
/// there when the unit is applied, never into the middle of a transaction.
public struct TransactionAssembler: Sendable {
    /// Changes that apply together, and the lines that could not be read among them.
    public struct Unit: Sendable, Equatable {
        public var changes: [ChangeEvent] = []
        /// The offset of the line of each change.
        public var offsets: [Int64] = []
        public var deadLetters: [DeadLine] = []
        /// The offset just past the unit's last line.
        public var endOffset: Int64 = 0
        /// Lines the unit took (changes, markers, ignored and dead lines).
        public var lines = 0
    }

    /// A complete line that could not be read.
    public struct DeadLine: Sendable, Equatable {
        public var offset: Int64
        public var line: String
        public var error: String

        public init(offset: Int64, line: String, error: String) {
            self.offset = offset
            self.line = line
            self.error = error
        }
    }

    private var open: Unit?
    /// Opened by a marker (`B`, `BEGIN`): only a commit ends it.
    private var explicit = false
    /// The transaction id of an open unit without a marker.
    private var implicitId: String?

    public init() {}

    /// The transaction waiting for its commit marker, if any.
    public var waiting: Bool { open != nil && explicit }

    /// Takes the record of the line from `offset` to `endOffset`; returns the units it
    /// completed (in order).
    public mutating func add(_ record: LogRecord, offset: Int64, endOffset: Int64) -> [Unit] {
        var done: [Unit] = []
        switch record {
        case .begin:
            if let unit = closeImplicit() { done.append(unit) }
            if open == nil { open = Unit() }
            explicit = true
            extend(endOffset)
        case .commit:
            if open == nil { open = Unit() }
            extend(endOffset)
            if let unit = close() { done.append(unit) }
        case let .changes(events, endsTransaction):
            let id = events.first?.transaction
            if !explicit {
                if open != nil && (id == nil || id != implicitId), let unit = closeImplicit() { done.append(unit) }
                if open == nil {
                    open = Unit()
                    implicitId = id
                }
            }
            open!.changes += events
            open!.offsets += Array(repeating: offset, count: events.count)
            extend(endOffset)
            // A single change outside any transaction, or the last of one, completes now.
            if endsTransaction || (!explicit && id == nil), let unit = close() { done.append(unit) }
        case .ignored:
            if open == nil { open = Unit() }
            extend(endOffset)
            if !explicit && implicitId == nil, let unit = close() { done.append(unit) }
        }
        return done
    }

    /// Takes a complete line that could not be read: it joins the open unit, or is one alone.
    public mutating func dead(_ line: DeadLine, endOffset: Int64) -> [Unit] {
        if open == nil { return [Unit(deadLetters: [line], endOffset: endOffset, lines: 1)] }
        open!.deadLetters.append(line)
        extend(endOffset)
        return []
    }

    /// At the end of the input: the open transaction known by its id only, complete.
    public mutating func finish() -> Unit? { explicit ? nil : closeImplicit() }

    private mutating func extend(_ endOffset: Int64) {
        open!.endOffset = endOffset
        open!.lines += 1
    }

    private mutating func closeImplicit() -> Unit? { explicit ? nil : close() }

    private mutating func close() -> Unit? {
        defer {
            open = nil
            explicit = false
            implicitId = nil
        }
        return open
    }
}
