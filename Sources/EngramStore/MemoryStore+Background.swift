import CFaiss
import EngramBase
import Foundation

/// Index maintenance off the write path: snapshots and rebuilds run on the maintenance queue
/// from a view of the state (which the writer never changes in place), while reads and
/// writes go on; a rebuild catches up with the writes made meanwhile and swaps in under the
/// writer lock. A crash at any point leaves the last complete snapshot and the change log,
/// from which the next open recovers.
extension MemoryStore {
    /// Starts a background snapshot when `snapshot_every` changes have accumulated since the
    /// last one and none is running (caller holds the writer lock).
    func scheduleSnapshotLocked() {
        guard !readOnly, !closing, !snapshotRunning, writeFailure == nil,
              changeSeq - snapshotSeq >= UInt64(settings.snapshotEvery) else { return }
        if case .hnsw = index.structure {
            // The HNSW graph is shared, not copied on write: a copy taken now would go on
            // receiving adds while it is written. Its snapshot is written here, under the lock.
            do { try saveSnapshotLocked() } catch { logger.error("index snapshot failed (\(error)); the change log keeps every change") }
            return
        }
        snapshotRunning = true
        // (Without the id table: a copy sharing it would make the writer's next change copy it whole.)
        let index = self.index, catalog = self.catalog.withoutIdIndex, seq = changeSeq, trainedOn = quantizerTrainedOn
        maintenance.async { [self] in
            do {
                try IndexSnapshot.save(index, catalog: catalog, trainedOn: trainedOn, seq: seq, in: indexDirectory)
                try locked {
                    snapshotRunning = false
                    try recordSnapshotLocked(seq)
                }
                flushLogIfWorthwhile()
            } catch {
                locked { snapshotRunning = false }
                logger.error("background index snapshot failed (\(error)); the change log keeps every change")
            }
            releaseFreeMemoryWhenQuiet()
        }
    }

    /// Returns the C heap's free pages to the system (`cfaiss_release_free_memory`) once no
    /// change has been written for `heapTrimQuietPeriod`. A rebuild or a snapshot frees large
    /// buffers, which a store that goes quiet afterwards should not keep in the process's
    /// RSS; while writes go on they reuse those pages, and returning them then only costs
    /// `madvise` calls, TLB shootdowns on every core and the page faults of touching the
    /// pages again (6% of the CPU of a 100,000-event `engram watch`). At most one wait is
    /// armed; it re-arms while changes keep coming, and a closing store skips it.
    func releaseFreeMemoryWhenQuiet() {
        let seq: UInt64? = locked {
            guard !heapTrimArmed, !closing else { return nil }
            heapTrimArmed = true
            return changeSeq
        }
        guard let seq else { return }
        maintenance.asyncAfter(deadline: .now() + Self.heapTrimQuietPeriod) { [weak self] in
            self?.releaseFreeMemory(ifNoChangeSince: seq)
        }
    }

    /// How long writes must pause before `releaseFreeMemoryWhenQuiet` trims the heap.
    static let heapTrimQuietPeriod: DispatchTimeInterval = .seconds(2)

    private func releaseFreeMemory(ifNoChangeSince seq: UInt64) {
        let now: UInt64? = locked {
            heapTrimArmed = false
            return closing ? nil : changeSeq
        }
        guard let now else { return }
        if now == seq {
            cfaiss_release_free_memory()
            logger.debug("returned the heap's free pages to the system: no change for \(Self.heapTrimQuietPeriod)")
        } else {
            releaseFreeMemoryWhenQuiet()
        }
    }

    /// Runs `body` on a thread of its own and waits for it; with `niced`, that thread's
    /// scheduling priority is lowered first (Linux threads have their own nice value), so that
    /// query threads win the CPU when the work competes with them. A thread of its own, so
    /// that no pooled thread keeps the lowered priority afterwards.
    static func onOwnThread<T: Sendable>(niced: Bool, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let result = ThreadResult<T>()
        let thread = Thread {
            if niced { _ = cfaiss_set_thread_nice(backgroundNice) }
            result.set(Result { try body() })
            done.signal()
        }
        thread.name = "engram-build"
        thread.start()
        done.wait()
        return try result.get()
    }

    /// The nice value of background builds.
    static let backgroundNice: Int32 = 10

    /// Records that a snapshot covering changes up to `seq` is on disk: advances the index
    /// consumer's watermark and trims the log (unless a newer snapshot got there first).
    func recordSnapshotLocked(_ seq: UInt64) throws {
        guard seq > snapshotSeq, let db, writeFailure == nil else { return }
        let batch = db.makeBatch()
        batch.put(Family.state, ChangeLog.watermarkKey(ChangeLog.indexConsumer), Self.encodeU64(seq))
        var watermarks = consumers
        watermarks[ChangeLog.indexConsumer] = seq
        let trim = trimLocked(batch, watermarks: watermarks)
        try commit(batch, to: db, sync: true)
        snapshotSeq = seq
        consumers = watermarks
        trimmedThrough = trim
    }

    /// Flushes RocksDB's memtables once they hold `closeFlushMinimum` bytes (after a snapshot
    /// trimmed the change log): the write-ahead log they mirror is then deleted, and the
    /// trimmed changes leave the disk instead of waiting in the log until it fills. After a
    /// failed flush (already reported) the log simply keeps them.
    func flushLogIfWorthwhile() {
        guard let db = locked({ readOnly || writeFailure != nil ? nil : db }), !db.flushHasFailed,
              db.memtableBytes >= Self.closeFlushMinimum else { return }
        do { try db.flush() } catch {
            logger.warning("flushing RocksDB after a snapshot failed (\(error)); its log keeps the changes for the next open")
        }
    }

    /// Starts a background rebuild of the index (caller holds the writer lock); at most one
    /// runs at a time. The codes are made anew when `retrain` is set or the quantizer no
    /// longer serves the live count; otherwise the rebuild keeps them (see
    /// `VectorIndex.quantizerServes`). `grownByWrites`: the writes of this store made the
    /// count call for more lists, so that `close` may stop a rebuild that only grows them.
    func scheduleRebuildLocked(retrain: Bool = false, grownByWrites: Bool = false) {
        guard !readOnly, !closing, !rebuildRunning else { return }
        rebuildRunning = true
        let labels = catalog.liveLabels(), capacity = catalog.labelCount, source = vectorSource
        let kept = !retrain && VectorIndex.quantizerServes(catalog.codes, trainedOn: quantizerTrainedOn)
            ? VectorIndex.KeptCodes(codes: catalog.codes, trainedOn: quantizerTrainedOn) : nil
        rebuildMayStopAtClose = grownByWrites && kept != nil && index.kind == .ivf
            && VectorIndex.targetKind(settings, liveCount: labels.count) == .ivf
        // The labels dead now stay dead until the swap (no label is reused while a rebuild
        // runs) and the new index never holds them: they are free once it is in place.
        let dead = catalog.deadLabels()
        let settings = self.settings, logger = self.logger
        let threads = buildThreads
        maintenance.async { [self] in
            do {
                // Background builds leave a core to the queries, and yield the CPU to them
                // when there is another core (on a single core they must still make progress).
                var built = try Self.onOwnThread(niced: settings.effectiveThreads > 1) {
                    try VectorIndex.build(settings: settings, labels: labels, labelCapacity: capacity,
                                          vectors: source, keeping: kept, threads: threads, logger: logger)
                }
                // The snapshot of the new index is written outside the writer lock (writes go
                // on meanwhile, and a later snapshot covers them), but for HNSW, whose graph is
                // shared rather than copied on write.
                let toSave = try locked { () -> (index: VectorIndex, catalog: Catalog, seq: UInt64, trainedOn: Int)? in
                    try swapInLocked(&built, builtFrom: capacity)
                    if case .hnsw = index.structure {
                        try saveSnapshotLocked()
                        return nil
                    }
                    return (index, catalog.withoutIdIndex, changeSeq, quantizerTrainedOn)
                }
                if let toSave {
                    try IndexSnapshot.save(toSave.index, catalog: toSave.catalog, trainedOn: toSave.trainedOn, seq: toSave.seq,
                                           in: indexDirectory)
                }
                try locked {
                    defer { rebuildRunning = false }
                    if let seq = toSave?.seq { try recordSnapshotLocked(seq) }
                    // Free only once the snapshot without them is on disk: an open from an
                    // older snapshot would find a reused label among its index entries. (No
                    // label is reused while `rebuildRunning` is set.)
                    freeLabels = dead
                    deadLabelsAreFree = false
                }
                flushLogIfWorthwhile()
            } catch let error as EngramError where error.is(.cancelled) {
                locked { rebuildRunning = false }
                logger.info("the growth of the IVF lists was stopped by close; the next writable open starts it again")
            } catch {
                locked { rebuildRunning = false }
                logger.error("background index rebuild failed (\(error)); the current index goes on serving")
            }
            // The sample, the build's chunks and the old codes were freed: give their pages back.
            releaseFreeMemoryWhenQuiet()
        }
    }

    /// Brings a rebuild made from the labels below `capacity` up to date with the writes made
    /// since (no label is reused while a rebuild runs: the newer live labels are added, and
    /// entries that died meanwhile count as tombstones), then makes it the index.
    private func swapInLocked(_ built: inout VectorIndex.Built, builtFrom capacity: Int) throws {
        let newer = (capacity..<catalog.labelCount).map(Int64.init).filter { catalog.isLive($0) }
        if built.keptCodes {
            // The writer encoded the newer labels into these same codes as it wrote them.
            built.codes = catalog.codes
            try built.index.add(newer, from: vectorSource, threads: buildThreads)
        } else {
            built.codes.reserve(catalog.labelCount)
            try built.index.add(newer, from: vectorSource, threads: buildThreads, encodingInto: &built.codes)
        }
        let died = (0..<capacity).reduce(0) { $0 + (catalog.isLive(Int64($1)) ? 0 : 1) } - (capacity - built.liveAtBuild)
        built.index.remove(count: died)
        catalog.codes = built.codes
        catalog.dropDeadFromIndexes()
        index = built.index
        quantizerTrainedOn = built.trainedOn
        publishLocked()
    }

    /// Rebuilds now and waits (for `compact`): the rebuild itself runs in the background, so
    /// reads and writes go on meanwhile.
    func rebuildAndWait() throws {
        // The caller waits for this build: it takes every core (at a lowered priority, so that
        // queries served meanwhile still come first), as a build that `close` waits for does.
        let threads = buildThreads.current
        buildThreads.set(settings.effectiveThreads)
        defer { buildThreads.set(threads) }
        // A rebuild already running started from an older state: let it finish first.
        waitForBackgroundWork()
        try locked {
            _ = try requireWritable()
            scheduleRebuildLocked(retrain: true)
        }
        waitForBackgroundWork()
        if let failure = locked({ writeFailure }) { throw failure }
    }
}

/// The result of work done on another thread.
final class ThreadResult<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, Error>?
    func set(_ result: Result<T, Error>) { lock.withLock { value = result } }
    func get() throws -> T {
        guard let value = lock.withLock({ value }) else { throw EngramError(.internal, "the build thread returned nothing") }
        return try value.get()
    }
}

extension MemoryStore {
    /// Waits until the snapshots and rebuilds started so far are done, and merges the
    /// full-text segments still pending (for tools and tests; queries never need to wait).
    /// (The last job may be what releases the store, closing it: that one does not wait for
    /// itself.)
    public func waitForBackgroundWork() {
        let merging = DispatchQueue.getSpecific(key: Self.textMergeKey) == nil && !locked({ textMergesPaused })
        // The pending segments merge while the maintenance queue finishes its work (they
        // share nothing; at close the two took turns, 0.05-0.24 s of merging after a rebuild).
        if merging { textMerge.async { [self] in mergeText() } }
        if DispatchQueue.getSpecific(key: Self.maintenanceKey) == nil { maintenance.sync {} }
        if merging { textMerge.sync { mergeText() } }
    }

    /// Leaves the files as a process killed now would (for crash tests that copy them): the
    /// background work finished, then RocksDB's flushes and compactions stopped (waiting for
    /// those under way), which otherwise replace files while they are copied. The store stays
    /// open; it must not be written to again.
    package func quiesceFilesForCopy() throws {
        waitForBackgroundWork()
        try requireOpen().cancelBackgroundWork()
    }
}
