import EngramBase

/// The full-text side of one write (a transaction, or a rebuild): which documents change,
/// their postings and the collection statistics, staged into the write's batch at once. A
/// transaction stages its postings as one `TextSegment` (merged into the blocks later, off
/// the write path); a rebuild edits the blocks directly.
///
/// A memory's document is its own analysed text or, with `[text] context_window = w`, the
/// texts of its thread from `w` places before it to `w` places after it, in thread order. A
/// memory written or removed changes its neighbours' documents too: they are marked and
/// recomputed once, when the write is staged. Used under the writer lock only.
final class TextWrite {
    private unowned let store: MemoryStore
    private let db: RocksDB
    private let window: Int
    /// The batch the write stages into.
    var batch: WriteBatch
    private(set) var stats: TextStats
    /// The store's thread order as this write leaves it (context windows only).
    private(set) var threads: ThreadIndex?
    /// Whether labels live in the store's catalog have documents on disk (false while a
    /// rebuild writes every document anew).
    private let committedDocuments: Bool
    /// Own-text documents by label, analysed once per write.
    private var own: [Int64: TextIndex.Document] = [:]
    /// Labels whose document is recomputed when the write is staged.
    private var dirty: Set<Int64> = []
    /// Where this write put the memories it inserted (the thread is nil outside threads).
    private var placed: [Int64: (entry: ThreadIndex.Entry, thread: ThreadIndex.Key?)] = [:]
    /// Committed labels whose document on disk this write has removed.
    private var removed: Set<Int64> = []
    /// The postings blocks this write staged (rebuild), or nil: it stages segments.
    private let blocks: PostingEditor?
    /// The documents this write added and removed, in order (transactions).
    private var events: [TextSegment.Event] = []
    /// The segment staged by `stage(seq:)`, for the pending list once the write is committed.
    private(set) var segment: TextSegment?

    /// A transaction's (`rebuild` false), or a rebuild's, which writes blocks directly and
    /// finds no documents on disk.
    init(store: MemoryStore, db: RocksDB, batch: WriteBatch, stats: TextStats, rebuild: Bool = false) {
        self.store = store
        self.db = db
        self.batch = batch
        self.stats = stats
        committedDocuments = !rebuild
        blocks = rebuild ? PostingEditor(db: db) : nil
        window = store.settings.text.contextWindow
        threads = store.threads
    }

    /// Indexes `memory`, the new version at `label` (its text analysed here, or its own
    /// `document` given).
    func insert(_ memory: Memory, label: Int64, document: TextIndex.Document? = nil) {
        own[label] = document ?? store.textWriter.document(memory.text)
        dirty.insert(label)
        let entry = ThreadIndex.Entry(time: memory.time, createdAt: memory.createdAt, label: label)
        guard let key = threads?.key(namespace: memory.namespace, meta: memory.meta) else {
            placed[label] = (entry, nil)
            return
        }
        // In place: a copy of the thread order per memory would cost O(threads) each.
        threads!.insert(entry, in: key)
        placed[label] = (entry, key)
        dirty.formUnion(threads!.window(of: entry, in: key, size: window))
    }

    /// Removes `label` (committed, or inserted by this write) from the index.
    func retire(_ label: Int64) throws {
        let catalog = store.catalog
        if threads != nil, let (entry, key) = placement(of: label, catalog), let key {
            dirty.formUnion(threads!.window(of: entry, in: key, size: window))
            threads!.remove(entry, from: key)
        }
        dirty.remove(label)
        placed[label] = nil
        own[label] = nil
        if isCommitted(label, catalog) { try removeCommitted([label]) }
    }

    /// Recomputes the changed documents and stages them, their postings (as the segment
    /// `seq`, or into the blocks for a rebuild) and the document entries removed meanwhile
    /// into `batch`.
    func stage(seq: UInt64) throws {
        let labels = dirty.sorted()
        // One copy of the catalog for the whole stage (reading it through `store` copies it).
        let catalog = store.catalog
        try removeCommitted(labels.filter { isCommitted($0, catalog) })
        for label in labels {
            let document = try self.document(of: label, catalog)
            // A memory without words (vectors only) is counted, with no entry or postings.
            if !document.terms.isEmpty { record(added: true, document, label) }
            stats.add(document)
        }
        dirty.removeAll(keepingCapacity: true)
        if let blocks {
            _ = try blocks.stage(into: batch, cache: nil)
        } else if !events.isEmpty {
            let segment = TextSegment(seq: seq, events: events)
            batch.put(TextSegment.family, segment.key, segment.encoded())
            self.segment = segment
            events.removeAll()
        }
    }

    /// Records a document added to or removed from the index: in a rebuild, straight into the
    /// blocks and the document entries; in a transaction, as an event of its segment.
    private func record(added: Bool, _ document: TextIndex.Document, _ label: Int64) {
        if let blocks {
            if added {
                blocks.add(document, label: label)
                batch.put(TextIndex.documents, TextIndex.documentKey(label), document.encoded())
            } else {
                blocks.remove(document, label: label)
                batch.delete(TextIndex.documents, TextIndex.documentKey(label))
            }
        } else {
            events.append(TextSegment.Event(added: added, label: label, document: document))
        }
    }

    /// Forgets the analysed texts kept so far (a rebuild does between chunks).
    func forgetDocuments() { own.removeAll(keepingCapacity: true) }

    /// Marks `label`, whose own text's document is `document`, to be indexed at `stage` (rebuild).
    func mark(_ label: Int64, document: TextIndex.Document) {
        own[label] = document
        dirty.insert(label)
    }

    private func isCommitted(_ label: Int64, _ catalog: Catalog) -> Bool {
        committedDocuments && catalog.isLive(label) && !removed.contains(label)
    }

    /// Where `label` sits: placed by this write, or as the catalog has it.
    private func placement(of label: Int64, _ catalog: Catalog) -> (ThreadIndex.Entry, ThreadIndex.Key?)? {
        if let placed = placed[label] { return placed }
        guard catalog.isLive(label), let threads else { return nil }
        return (threads.entry(of: label, in: catalog), threads.key(of: label, in: catalog))
    }

    /// Removes the documents of committed `labels`: as a pending segment has them, else as
    /// their entries on disk say (one batched read). A memory without an entry had no words
    /// (see `stage`).
    private func removeCommitted(_ labels: [Int64]) throws {
        guard !labels.isEmpty else { return }
        let pending = store.pendingText
        var onDisk: [Int64] = []
        for label in labels {
            removed.insert(label)
            if let event = pending.lastEvent(of: label) {
                remove(event.added ? event.document : TextIndex.Document(terms: []), label)
            } else {
                onDisk.append(label)
            }
        }
        try db.multiGet(TextIndex.documents, onDisk.map(TextIndex.documentKey)) { i, value in
            remove(try value.map(TextIndex.Document.decode) ?? TextIndex.Document(terms: []), onDisk[i])
        }
    }

    private func remove(_ document: TextIndex.Document, _ label: Int64) {
        if !document.terms.isEmpty { record(added: false, document, label) }
        stats.remove(document)
    }

    /// `label`'s document: its window's texts in thread order, or its own text.
    private func document(of label: Int64, _ catalog: Catalog) throws -> TextIndex.Document {
        guard let threads, let (entry, key) = placement(of: label, catalog), let key else { return try ownDocument(of: label, catalog) }
        return TextIndex.Document(combining: try threads.window(of: entry, in: key, size: window).map { try ownDocument(of: $0, catalog) })
    }

    /// The document of `label`'s own text (read from its record if this write did not have it).
    private func ownDocument(of label: Int64, _ catalog: Catalog) throws -> TextIndex.Document {
        if let cached = own[label] { return cached }
        guard let id = catalog.ids[Int(label)], let raw = try db.get(MemoryStore.Family.records, Array(id.utf8)) else {
            throw EngramError.corrupt("memory label \(label) has no record")
        }
        let text = try raw.withUnsafeBytes { try RecordCodec.text($0) }
        let document = store.textWriter.document(text)
        own[label] = document
        return document
    }
}
