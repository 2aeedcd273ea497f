import EngramBase

/// Edits the postings blocks of one write (a transaction, or a chunk of a rebuild). Adds and
/// removals are recorded per block in memory; `stage(into:cache:)` then takes every touched
/// block from the writer's `PostingCache` or, for blocks it does not hold, from one batched
/// lookup of the committed state, applies the edits (as if in order) and stages each block once
/// into the write's batch. Used under the writer lock only.
final class PostingEditor {
    private typealias BlockKey = PostingCache.BlockKey

    /// One change to a block, in the order made: a posting to add (or replace), or a label to
    /// remove (`posting == nil`).
    private struct Edit {
        var label: Int64
        var posting: TextIndex.Posting?
    }

    private let db: RocksDB
    private var edits: [BlockKey: [Edit]] = [:]

    init(db: RocksDB) { self.db = db }

    var isEmpty: Bool { edits.isEmpty }

    /// Adds `document` as the postings of `label`.
    func add(_ document: TextIndex.Document, label: Int64) {
        let block = TextIndex.block(of: label)
        let length = UInt32(clamping: document.length)
        for (term, tf) in document.terms {
            edits[BlockKey(term: term, block: block), default: []]
                .append(Edit(label: label, posting: TextIndex.Posting(label: label, tf: UInt32(clamping: tf), length: length)))
        }
    }

    /// Removes the postings of `label`, whose document is `document`.
    func remove(_ document: TextIndex.Document, label: Int64) {
        let block = TextIndex.block(of: label)
        for (term, _) in document.terms {
            edits[BlockKey(term: term, block: block), default: []].append(Edit(label: label, posting: nil))
        }
    }

    /// Applies the edits to the committed blocks and stages every changed block (an emptied
    /// one is deleted); the editor is empty again afterwards. Returns the blocks' new
    /// postings, for `PostingCache.commit` once the write is committed.
    func stage(into batch: WriteBatch, cache: PostingCache?) throws -> [PostingCache.BlockKey: [TextIndex.Posting]] {
        guard !edits.isEmpty else { return [:] }
        var written: [BlockKey: [TextIndex.Posting]] = [:]
        var toRead: [BlockKey] = []
        for key in edits.keys {
            if let held = cache?.postings(key) {
                written[key] = held
            } else if cache?.canHold(key.block) == true {
                written[key] = []  // a fresh block: nothing of it on disk
            } else {
                toRead.append(key)
            }
        }
        toRead.sort()
        try db.multiGet(TextIndex.postings, toRead.map { TextIndex.blockKey($0.term, block: $0.block) }) { i, value in
            written[toRead[i]] = try value.map { try TextIndex.decode($0, block: toRead[i].block) } ?? []
        }
        for key in edits.keys.sorted() {
            let existed = !written[key]!.isEmpty
            let list = Self.apply(edits[key]!, to: written[key]!)
            let rocksKey = TextIndex.blockKey(key.term, block: key.block)
            if list.isEmpty {
                if existed { batch.delete(TextIndex.postings, rocksKey) }
            } else {
                batch.put(TextIndex.postings, rocksKey, TextIndex.encode(list, block: key.block))
            }
            written[key] = list
        }
        edits.removeAll(keepingCapacity: true)
        return written
    }

    /// `list` (sorted by label, one posting a label) with `edits` applied as if one after the
    /// other: the last edit of a label decides whether it has a posting, and which. One merge
    /// pass, O(list + edits·log edits); applying them one by one cost O(list) for each removal
    /// or out-of-order insert, 12% of a change-log ingest whose updates and deletes hit blocks
    /// of thousands of postings.
    private static func apply(_ edits: [Edit], to list: [TextIndex.Posting]) -> [TextIndex.Posting] {
        // Stable by label (the sort is nearly free: labels mostly come in ascending order),
        // then the last edit of each label.
        let order = edits.indices.sorted { edits[$0].label != edits[$1].label ? edits[$0].label < edits[$1].label : $0 < $1 }
        var last: [Edit] = []
        last.reserveCapacity(order.count)
        for i in order {
            if let previous = last.last, previous.label == edits[i].label { last[last.count - 1] = edits[i] } else { last.append(edits[i]) }
        }
        var out: [TextIndex.Posting] = []
        out.reserveCapacity(list.count + last.count)
        var i = 0
        for edit in last {
            while i < list.count && list[i].label < edit.label {
                out.append(list[i])
                i += 1
            }
            if i < list.count && list[i].label == edit.label { i += 1 }
            if let posting = edit.posting { out.append(posting) }
        }
        out.append(contentsOf: list[i...])
        return out
    }
}
