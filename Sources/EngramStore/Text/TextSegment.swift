import EngramBase
import Synchronization

/// The full-text changes of one committed write, as its batch stores them: the documents it
/// added and removed, in order. A write puts one segment (`text_segments`: change sequence
/// → segment) instead of editing each term's postings blocks and document entries; the
/// merger (`MemoryStore.mergeText`) later applies pending segments to the blocks and the
/// document entries and deletes them, in a batch of its own, off the write path. Until then
/// queries read the blocks and the pending segments together (`PendingText`), so nothing is
/// ever missing or counted twice.
///
/// Layout: `varint n`, then n events: `u8 kind (1 add, 0 remove), varint label, varint
/// length, varint m, m × (varint term bytes, term, varint tf)`.
final class TextSegment: Sendable {
    /// The change sequence of the write that made it (its key).
    let seq: UInt64
    let events: [Event]
    /// Every label with an event here.
    let labels: Set<Int64>
    /// The postings by term, made by the first query that needs them (not on the write path).
    private let index = Mutex<[String: [TextIndex.Posting]]?>(nil)

    struct Event: Sendable {
        var added: Bool
        var label: Int64
        var document: TextIndex.Document
    }

    static let family = "text_segments"

    init(seq: UInt64, events: [Event]) {
        self.seq = seq
        self.events = events
        labels = Set(events.map(\.label))
    }

    /// Postings of the documents this segment leaves added (each label's last event is an add).
    func postings(of term: String) -> [TextIndex.Posting]? {
        index.withLock { index in
            if index == nil {
                var last: [Int64: Event] = [:]
                for event in events { last[event.label] = event }
                var postings: [String: [TextIndex.Posting]] = [:]
                for (label, event) in last where event.added {
                    let length = UInt32(clamping: event.document.length)
                    for (term, tf) in event.document.terms {
                        postings[term, default: []].append(TextIndex.Posting(label: label, tf: UInt32(clamping: tf), length: length))
                    }
                }
                index = postings
            }
            return index![term]
        }
    }

    /// The terms with postings here.
    var terms: Set<String> {
        var out = Set<String>()
        for event in events where event.added { for (term, _) in event.document.terms { out.insert(term) } }
        return out
    }

    /// `label`'s last event here, if any.
    func lastEvent(of label: Int64) -> Event? {
        guard labels.contains(label) else { return nil }
        return events.last { $0.label == label }
    }

    var key: [UInt8] { Keys.u64(seq) }

    /// Documents added (counting each event).
    var size: Int { events.count }

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        // The usual size (short terms, small counts and labels), so that one allocation
        // mostly does.
        out.reserveCapacity(10 + events.reduce(0) { $0 + 8 + $1.document.terms.reduce(0) { $0 + 2 + $1.term.utf8.count } })
        Varint.append(UInt64(events.count), to: &out)
        for event in events {
            out.append(event.added ? 1 : 0)
            Varint.append(UInt64(bitPattern: event.label), to: &out)
            Varint.append(UInt64(event.document.length), to: &out)
            Varint.append(UInt64(event.document.terms.count), to: &out)
            for (term, tf) in event.document.terms {
                Varint.append(UInt64(term.utf8.count), to: &out)
                out.append(contentsOf: term.utf8)
                Varint.append(UInt64(tf), to: &out)
            }
        }
        return out
    }

    static func decode(seq: UInt64, _ bytes: UnsafeRawBufferPointer) throws -> TextSegment {
        var r = Varint.Reader(bytes)
        let n = try r.next()
        guard n <= UInt64(bytes.count) else { throw EngramError.corrupt("text segment \(seq) is malformed") }
        var events: [Event] = []
        events.reserveCapacity(Int(n))
        for _ in 0..<n {
            let kind = try r.byte()
            let label = Int64(bitPattern: try r.next())
            let length = Int(try r.next())
            let m = try r.next()
            guard kind <= 1, m <= UInt64(bytes.count) else { throw EngramError.corrupt("text segment \(seq) is malformed") }
            var terms: [(term: String, tf: Int)] = []
            terms.reserveCapacity(Int(m))
            for _ in 0..<m {
                let term = try r.string(Int(try r.next()))
                terms.append((term, Int(try r.next())))
            }
            events.append(Event(added: kind == 1, label: label, document: TextIndex.Document(length: length, terms: terms)))
        }
        guard r.atEnd else { throw EngramError.corrupt("text segment \(seq) has trailing bytes") }
        return TextSegment(seq: seq, events: events)
    }
}

/// The segments not yet merged into the postings blocks, oldest first. The writer keeps one
/// (appending each write's segment, dropping merged ones) and every view holds the value it
/// was published with.
struct PendingText: Sendable {
    private(set) var segments: [TextSegment] = []
    /// Bit `label` is set when a pending segment has an event for it: its postings in the
    /// blocks are stale, the segments say what it holds.
    private var bits: [UInt64] = []
    /// Document changes in the segments (events).
    private(set) var size = 0

    static let empty = PendingText()

    init() {}

    init(segments: [TextSegment]) {
        for segment in segments { append(segment) }
    }

    /// Adds a write's segment (the newest).
    mutating func append(_ segment: TextSegment) {
        segments.append(segment)
        size += segment.size
        for label in segment.labels {
            let word = Int(label) >> 6
            if word >= bits.count { bits.append(contentsOf: repeatElement(0, count: word + 1 - bits.count)) }
            bits[word] |= 1 << UInt64(label & 63)
        }
    }

    /// Without the oldest `count` segments (merged).
    func droppingFirst(_ count: Int) -> PendingText { PendingText(segments: Array(segments.dropFirst(count))) }

    var isEmpty: Bool { segments.isEmpty }

    /// `label`'s newest pending event, if any.
    func lastEvent(of label: Int64) -> TextSegment.Event? {
        for segment in segments.reversed() { if let event = segment.lastEvent(of: label) { return event } }
        return nil
    }

    @inline(__always)
    func covers(_ label: Int64) -> Bool {
        let word = Int(label) >> 6
        return word < bits.count && bits[word] & (1 << UInt64(label & 63)) != 0
    }

    /// Calls `body` for each current posting of `term` in the pending segments: a label's
    /// postings come from the newest segment with an event for it.
    func forEachPosting(of term: String, _ body: (TextIndex.Posting) throws -> Void) rethrows {
        for (i, segment) in segments.enumerated() {
            guard let list = segment.postings(of: term) else { continue }
            for posting in list where !segments[(i + 1)...].contains(where: { $0.labels.contains(posting.label) }) {
                try body(posting)
            }
        }
    }
}
