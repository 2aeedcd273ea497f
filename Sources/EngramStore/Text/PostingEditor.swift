import EngramBase

/// Edits the postings blocks of one write (a transaction, or a chunk of a rebuild). Adds and
/// removals are recorded per block in memory; `stage(into:)` then reads every touched block
/// once (one batched lookup of the committed state), applies them in order and stages each
/// block once into the write's batch. Used under the writer lock only.
final class PostingEditor {
    private struct BlockKey: Hashable, Comparable {
        var term: String
        var block: UInt32
        static func < (a: BlockKey, b: BlockKey) -> Bool { (a.term, a.block) < (b.term, b.block) }
    }

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
    /// one is deleted); the editor is empty again afterwards.
    func stage(into batch: WriteBatch) throws {
        guard !edits.isEmpty else { return }
        let keys = edits.keys.sorted()
        let rocksKeys = keys.map { TextIndex.blockKey($0.term, block: $0.block) }
        try db.multiGet(TextIndex.postings, rocksKeys) { i, value in
            let key = keys[i]
            var list = try value.map { try TextIndex.decode($0, block: key.block) } ?? []
            for edit in edits[key]! {
                if let posting = edit.posting {
                    if let last = list.last, last.label >= edit.label {
                        let at = list.firstIndex { $0.label >= edit.label }!
                        if list[at].label == edit.label { list[at] = posting } else { list.insert(posting, at: at) }
                    } else {
                        list.append(posting)
                    }
                } else {
                    list.removeAll { $0.label == edit.label }
                }
            }
            if list.isEmpty {
                if value != nil { batch.delete(TextIndex.postings, rocksKeys[i]) }
            } else {
                batch.put(TextIndex.postings, rocksKeys[i], TextIndex.encode(list, block: key.block))
            }
        }
        edits.removeAll(keepingCapacity: true)
    }
}
