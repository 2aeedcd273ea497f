import EngramBase
import Foundation

extension MemoryStore {
    // MARK: Merging segments into the postings blocks

    /// Queues a merge of the pending text segments, unless one is queued (caller holds the
    /// writer lock).
    func scheduleTextMergeLocked() {
        guard !readOnly, !closing, !textMergeScheduled, writeFailure == nil, !pendingText.isEmpty else { return }
        textMergeScheduled = true
        // Weak: a queued merge does not keep a released store open (its segments stay on disk
        // and are merged at the next open); closing waits for a merge under way.
        textMerge.async { [weak self] in self?.mergeText() }
    }

    /// Applies every pending segment to the postings blocks and the document entries and
    /// deletes them, in one batch of
    /// its own; readers switch from segments to blocks with the view published under the
    /// same lock as that commit. Runs on `textMerge`: writers go on meanwhile (they only add
    /// segments; only merges and rebuilds, both on this queue, write blocks).
    func mergeText() {
        let (segments, db) = locked { () -> ([TextSegment], RocksDB?) in
            textMergeScheduled = false
            return (pendingText.segments, closing || writeFailure != nil ? nil : self.db)
        }
        guard let db, !segments.isEmpty else { return }
        do {
            let editor = PostingEditor(db: db)
            let batch = db.makeBatch()
            var documents: [Int64: TextIndex.Document?] = [:]
            for segment in segments {
                for event in segment.events {
                    if event.added { editor.add(event.document, label: event.label) } else { editor.remove(event.document, label: event.label) }
                    documents.updateValue(event.added ? event.document : nil, forKey: event.label)
                }
            }
            for (label, document) in documents {
                if let document {
                    batch.put(TextIndex.documents, TextIndex.documentKey(label), document.encoded())
                } else {
                    batch.delete(TextIndex.documents, TextIndex.documentKey(label))
                }
            }
            let written = try editor.stage(into: batch, cache: postingCache)
            for segment in segments { batch.delete(TextSegment.family, segment.key) }
            try locked {
                guard self.db != nil, pendingText.segments.prefix(segments.count).map(\.seq) == segments.map(\.seq) else { return }
                try commit(batch, to: db, sync: false)
                pendingText = pendingText.droppingFirst(segments.count)
                postingCache.commit(written)
                publishLocked()
                scheduleTextMergeLocked()
            }
        } catch {
            logger.error("merging \(segments.count) full-text segments failed (\(error)); queries read them as they are, and the next open merges them")
        }
    }

    /// Runs `body` with text merges held back: writes leave their segments pending and queries
    /// and `check` read them as they are (for tests and diagnostics of that path). A merge
    /// under way finishes first; held merges run after `body`. `body` must not close or
    /// compact the store, nor wait for its background work (they wait for the merges).
    public func pausingTextMerges<T>(_ body: () throws -> T) rethrows -> T {
        textMerge.sync {}
        textMerge.suspend()
        locked { textMergesPaused = true }
        defer {
            locked { textMergesPaused = false }
            textMerge.resume()
        }
        return try body()
    }

    /// Waits for the text merges when the segments pending are more than
    /// `textPendingLimit` documents (a writer far ahead of the merges), so that neither
    /// memory nor query time grows without bound.
    func waitForTextMergeIfBehind() {
        guard DispatchQueue.getSpecific(key: Self.textMergeKey) == nil,
              locked({ !textMergesPaused && pendingText.size > Self.textPendingLimit }) else { return }
        textMerge.sync {}
    }

    /// Documents in pending text segments above which writers wait for the merges.
    static let textPendingLimit = 50_000

    /// What the text index records of the settings that shape it (analyser and context
    /// windows): a database whose index was built otherwise rebuilds it.
    static func textIndexDescriptor(_ text: TextSettings) -> String {
        TextAnalyzer(text).descriptor + (text.contextWindow > 0 ? " window=\(text.contextWindow) thread=\(text.threadField)" : "")
    }

    /// Rebuilds the full-text index from the records (caller holds the writer lock, and runs
    /// where no text merge can run meanwhile: while opening, or on `textMerge`): for a
    /// database migrated from format 2, and whenever the analyser settings changed. The old
    /// index and its analyser's descriptor are removed first, and the descriptor is written
    /// last, so that a crash part-way leaves a database that rebuilds again at the next open.
    func rebuildTextIndexLocked(db: RocksDB) throws {
        let started = Date()
        let clear = db.makeBatch()
        clear.delete(Family.state, TextIndex.StateKey.analyzer)
        // (Terms are UTF-8: no key starts with 0xFF.)
        clear.deleteRange(TextIndex.postings, from: [], to: [0xFF])
        clear.deleteRange(TextIndex.documents, from: [], to: [UInt8](repeating: 0xFF, count: 9))
        clear.deleteRange(TextSegment.family, from: [], to: [UInt8](repeating: 0xFF, count: 9))
        try commit(clear, to: db, sync: true)
        textIndexCurrent = false
        pendingText = .empty
        // Every block is rewritten from disk state; none is fresh until labels beyond today's.
        postingCache.clear(labelsIssued: nextLabel)

        threads = settings.text.contextWindow > 0 ? ThreadIndex(field: settings.text.threadField, catalog: catalog) : nil
        let write = TextWrite(store: self, db: db, batch: db.makeBatch(), stats: TextStats(), rebuild: true)
        var pending = 0
        let total = catalog.liveCount
        try db.scan(Family.records) { _, value in
            let (memory, label) = try RecordCodec.decode(value)
            // Records the catalog left out (inconsistent ones, see `check`) are not searchable.
            guard catalog.isLive(label), catalog.ids[Int(label)] == memory.id else { return true }
            write.mark(label, analysed: textWriter.terms(memory.text))
            pending += 1
            if pending == Self.migrationBatch {
                try write.stage(seq: 0)
                try commit(write.batch, to: db, sync: false)
                write.batch = db.makeBatch()
                write.forgetTerms()
                pending = 0
                logger.info("full-text index: \(write.stats.documents) of \(total) memories")
            }
            return true
        }
        try write.stage(seq: 0)
        let stats = write.stats
        write.batch.put(Family.state, TextIndex.StateKey.stats, stats.encoded())
        write.batch.put(Family.state, TextIndex.StateKey.analyzer, Array(Self.textIndexDescriptor(settings.text).utf8))
        try commit(write.batch, to: db, sync: true)
        textStats = stats
        textIndexCurrent = true
        publishLocked()
        logger.notice("built the full-text index of \(stats.documents) memories (language \(analyzer.language)) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
    }
}
