import Foundation

/// How `EngramDatabase.importJSONL` reads and writes.
public struct ImportOptions: Sendable {
    /// Records per committed (atomic, durable) batch, 1…`maxBatch`.
    public var batchSize: Int
    /// Namespace for records that do not name one.
    public var defaultNamespace: String
    /// Skip malformed lines (reported in the summary) instead of stopping at the first.
    public var skipInvalid: Bool
    /// Longest accepted line, in bytes.
    public var maxLineBytes: Int

    public static let maxBatch = 100_000
    public static let defaultMaxLineBytes = 16 << 20

    public init(batchSize: Int = 1000, defaultNamespace: String = MemoryStore.defaultNamespace, skipInvalid: Bool = false,
                maxLineBytes: Int = ImportOptions.defaultMaxLineBytes) {
        self.batchSize = batchSize
        self.defaultNamespace = defaultNamespace
        self.skipInvalid = skipInvalid
        self.maxLineBytes = maxLineBytes
    }
}

/// What an import reports while it runs.
public enum ImportEvent: Sendable {
    /// Bytes read so far (of `total`, when the size is known) and records seen.
    case progress(bytesRead: Int64, total: Int64?, records: Int)
    /// Every line up to `line` is durable.
    case acknowledged(line: Int)
    /// A malformed line was skipped (with `skipInvalid`).
    case skipped(line: Int, error: EngramError)
}

/// What an import did.
public struct ImportSummary: Codable, Sendable, Equatable {
    public var imported: Int
    /// Lines read.
    public var lines: Int
    public var skipped: Int
    /// The first skipped line numbers (at most `ImportSummary.listedSkips`).
    public var skippedLines: [Int]
    public var seconds: Double
    public var embedSeconds: Double
    public var storeSeconds: Double

    public static let listedSkips = 20
}

extension EngramError.Reason {
    /// An import stopped at a line: what came before it is imported, nothing after.
    public static let importStopped = Self("IMPORT_STOPPED")
}

extension EngramDatabase {
    /// Imports a JSON Lines file (`"-"` for standard input) of `MemoryInput` records.
    ///
    /// Records are written in batches of `options.batchSize`, each one atomic and durable;
    /// the next batch is parsed while the previous one is embedded and written. A malformed
    /// line stops the import with its line number (the batches before it stay imported)
    /// unless `skipInvalid`. `onEvent` is called on the importing task.
    public func importJSONL(path: String, options: ImportOptions = ImportOptions(),
                            onEvent: (ImportEvent) -> Void = { _ in }) async throws -> ImportSummary {
        guard (1...ImportOptions.maxBatch).contains(options.batchSize) else {
            throw EngramError.invalidArgument("the batch size must be between 1 and \(ImportOptions.maxBatch)")
        }
        let reader = try LineReader(path: path, maxLineBytes: options.maxLineBytes)
        var decoder = JSONLRecordDecoder(defaultNamespace: options.defaultNamespace)
        let started = Date()
        var summary = ImportSummary(imported: 0, lines: 0, skipped: 0, skippedLines: [], seconds: 0, embedSeconds: 0,
                                    storeSeconds: 0)
        var pending: [NewMemory] = []
        var pendingFirstLine = 0
        var inFlight: Task<BatchTimes, Error>?
        var inFlightLines = (first: 0, last: 0, count: 0)

        /// Waits for the batch being written, and reports it.
        func settle() async throws {
            guard let task = inFlight else { return }
            inFlight = nil
            do {
                let times = try await task.value
                summary.embedSeconds += times.embed
                summary.storeSeconds += times.store
                summary.imported += inFlightLines.count
                onEvent(.acknowledged(line: inFlightLines.last))
            } catch {
                let cause = error as? EngramError
                throw EngramError(cause?.code ?? .internal,
                                  "lines \(inFlightLines.first)–\(inFlightLines.last) were not imported: \(error). \(summary.imported) memories from earlier lines are imported.",
                                  reason: cause?.reason ?? .importStopped)
            }
        }
        /// Hands the pending records to a writer, after the previous batch is durable. A batch
        /// whose vectors are all given is prepared for the store first (validated, normalised,
        /// its texts analysed) while the previous one is still being written, so that the
        /// writer does the write alone; one that needs embedding is prepared by its write.
        func flush() async throws {
            guard !pending.isEmpty else { return try await settle() }
            let batch = pending
            let lines = (first: pendingFirstLine, last: summary.lines, count: batch.count)
            pending.removeAll(keepingCapacity: true)
            let store = self.store
            let prepared = batch.allSatisfy { !$0.vector.isEmpty } ? Result { try store.prepareForWrite(batch) } : nil
            try await settle()
            inFlightLines = lines
            inFlight = Task { try await self.writeBatch(batch, prepared: prepared) }
        }

        while let line = try reader.next() {
            summary.lines = line.number
            if line.number % 1024 == 0 {
                onEvent(.progress(bytesRead: reader.bytesRead, total: reader.size, records: summary.imported + pending.count))
            }
            if line.bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do {
                let record = try decoder.decode(line.bytes)
                if pending.isEmpty { pendingFirstLine = line.number }
                pending.append(record)
            } catch {
                if options.skipInvalid {
                    summary.skipped += 1
                    if summary.skippedLines.count < ImportSummary.listedSkips { summary.skippedLines.append(line.number) }
                    onEvent(.skipped(line: line.number, error: error))
                    continue
                }
                let stoppedAt = line.number
                summary.lines = stoppedAt - 1
                try await flush()
                try await settle()
                throw EngramError(.invalidArgument, "line \(stoppedAt): \(error). Nothing from this line on was imported; \(summary.imported) memories from the lines before it are.",
                                  reason: .importStopped)
            }
            if pending.count >= options.batchSize { try await flush() }
        }
        try await flush()
        try await settle()
        onEvent(.progress(bytesRead: reader.bytesRead, total: reader.size, records: summary.imported))
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    struct BatchTimes: Sendable {
        var embed = 0.0
        var store = 0.0
    }

    /// Embeds what needs it and writes one batch (as `prepared` for the store when given), on
    /// threads of its own (the store's write is blocking I/O; it never runs on Swift's
    /// cooperative pool).
    private func writeBatch(_ batch: [NewMemory], prepared: Result<[PreparedMemory], Error>?) async throws -> BatchTimes {
        var memories = batch
        var times = BatchTimes()
        let embedStart = Date()
        if batch.contains(where: { $0.vector.isEmpty }) {
            try await embedMissingVectors(&memories)
            times.embed = Date().timeIntervalSince(embedStart)
        }
        let store = self.store
        let storeStart = Date()
        let toWrite = memories
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            Self.writers.async {
                continuation.resume(with: Result {
                    if let prepared {
                        let ready = try prepared.get()
                        _ = try store.write { try $0.upsert(ready) }
                    } else {
                        _ = try store.upsert(toWrite)
                    }
                })
            }
        }
        times.store = Date().timeIntervalSince(storeStart)
        return times
    }

    /// Where blocking writes run, off Swift's cooperative pool.
    static let writers = DispatchQueue(label: "engram.import.writes", qos: .userInitiated)
}
