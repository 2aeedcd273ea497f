import EngramBase
import Foundation

extension MemoryStore {
    // MARK: Merging segments into the postings blocks

    /// Queues a merge of the pending text segments (caller holds the writer lock): at once
    /// when they hold `textMergeBatch` documents, else `textMergeDelay` after the first of them
    /// arrived. A merge writes one postings block per term and 8,192 labels it touches, so
    /// merging many writes at once writes far fewer blocks per memory than merging each write
    /// alone; the delay bounds how long a trickle of writes waits.
    func scheduleTextMergeLocked() {
        guard !readOnly, !closing, writeFailure == nil, !pendingText.isEmpty else { return }
        // Weak: a queued merge does not keep a released store open (its segments stay on disk
        // and are merged at the next open); closing merges what is pending.
        if pendingText.size >= Self.textMergeBatch {
            guard !textMergeScheduled else { return }
            textMergeScheduled = true
            textMerge.async { [weak self] in self?.mergeText() }
        } else if !textMergeTimed {
            textMergeTimed = true
            textMerge.asyncAfter(deadline: .now() + Self.textMergeDelay) { [weak self] in self?.mergeText(timed: true) }
        }
    }

    /// Pending documents from which a merge starts at once.
    static let textMergeBatch = 32_768
    /// How long fewer pending documents wait for more before they are merged.
    static let textMergeDelay: DispatchTimeInterval = .seconds(1)

    /// Applies every pending segment to the postings blocks and the document entries and
    /// deletes them, in one batch of its own; readers switch from segments to blocks with the
    /// view published after that commit (see `apply`). Runs on `textMerge` (`timed`: as
    /// the delayed merge of `scheduleTextMergeLocked`): writers go on meanwhile (they only
    /// add segments; only merges and rebuilds, both on this queue, write blocks).
    func mergeText(timed: Bool = false) {
        let (segments, db) = locked { () -> ([TextSegment], RocksDB?) in
            if timed { textMergeTimed = false } else { textMergeScheduled = false }
            return (pendingText.segments, readOnly || closing || writeFailure != nil ? nil : self.db)
        }
        guard let db, !segments.isEmpty else { return }
        do {
            try apply(segments, db: db)
        } catch {
            logger.error("merging \(segments.count) full-text segments failed (\(error)); queries read them as they are, and the next open merges them")
        }
    }

    /// Merges `segments` (the oldest pending ones) into the blocks and the document entries,
    /// then drops them from the pending list and publishes the view that reads the blocks.
    private func apply(_ segments: [TextSegment], db: RocksDB) throws {
        let editor = PostingEditor(db: db)
        let batch = db.makeBatch()
        var documents: [Int64: TextIndex.Document?] = [:]
        for segment in segments {
            for event in segment.events {
                if event.added { editor.add(event.document, label: event.label) } else { editor.remove(event.document, label: event.label) }
                documents.updateValue(event.added ? event.document : nil, forKey: event.label)
            }
        }
        // In key order: RocksDB's memtable inserts a batch's ascending keys next to each other
        // (its skip list keeps the last insert's position), where a hash map's order made each
        // insert a search from the top of the list.
        for label in documents.keys.sorted() {
            if let document = documents[label]! {
                batch.put(TextIndex.documents, TextIndex.documentKey(label), document.encoded())
            } else {
                batch.delete(TextIndex.documents, TextIndex.documentKey(label))
            }
        }
        let written = try editor.stage(into: batch, cache: postingCache)
        for segment in segments { batch.delete(TextSegment.family, segment.key) }
        // Committed outside the writer lock, so that writers do not wait for a merge's
        // batch. A view published meanwhile still lists the merged segments as pending, and
        // a label with a pending event is read from the segments, never from the blocks or
        // its document entry (`PendingText.covers`): nothing is counted twice. Only merges
        // and text rebuilds write blocks, both on this queue.
        do {
            try db.write(batch, sync: false)
        } catch let error as EngramError {
            if error.isStorageFailure { locked { writeFailure = error } }
            throw error
        }
        locked {
            guard pendingText.segments.prefix(segments.count).map(\.seq) == segments.map(\.seq) else { return }
            pendingText = pendingText.droppingFirst(segments.count)
            postingCache.commit(written)
            publishLocked()
            scheduleTextMergeLocked()
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

    /// What the text index records of what shapes it (the analyser, the postings block size
    /// and the context windows): a database whose index was built otherwise rebuilds it.
    static func textIndexDescriptor(_ text: TextSettings) -> String {
        TextAnalyzer(text).descriptor + " blocks=\(TextIndex.blockSize)" + (text.contextWindow > 0 ? " window=\(text.contextWindow) thread=\(text.threadField)" : "")
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
        let parser = try RecordCodec.metaParser()
        try db.scan(Family.records) { _, value in
            let (memory, label) = try RecordCodec.decode(value, parser: parser)
            // Records the catalog left out (inconsistent ones, see `check`) are not searchable.
            guard catalog.isLive(label), catalog.ids[Int(label)] == memory.id else { return true }
            write.mark(label, document: textWriter.document(memory.text))
            pending += 1
            if pending == Self.migrationBatch {
                try write.stage(seq: 0)
                try commit(write.batch, to: db, sync: false)
                write.batch = db.makeBatch()
                write.forgetDocuments()
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
