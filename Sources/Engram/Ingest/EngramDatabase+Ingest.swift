import EngramBase
import EngramIngest
import Foundation

extension EngramError.Reason {
    /// `watch --strict` met a line it could not apply.
    public static let deadLetter = EngramError.Reason("DEAD_LETTER")
}

extension EngramDatabase {
    /// Applies every complete line of the change logs in `request.paths` after each file's
    /// saved offset, exactly once, and returns what it did per file.
    ///
    /// Each unit (a source transaction, or one change) is applied wholly or not at all, in one
    /// write with the memories it changes, the source positions of their rows and the file's
    /// new offset: a crash loses nothing and applies nothing twice. A change whose row has
    /// already seen its position or a later one is skipped. A complete line that cannot be read
    /// or mapped, or is longer than `[ingest] max_line_bytes` (its first bytes are kept), becomes
    /// a dead letter (file, offset, line, error) and the rest goes on; a torn
    /// last line (no newline yet) and a transaction without its commit wait for a later call.
    /// A cancelled task stops at the next batch boundary, with everything before it applied.
    ///
    /// - Throws: `EngramError` `.notFound` for a missing path; (unless `follow`, where a file's
    ///   error is its report's `error` and the other files go on) `.failedPrecondition`
    ///   (`deadLetter`) with `strict` at the first batch holding a dead letter (nothing of that
    ///   batch applied); `.failedPrecondition` when a file is shorter than its saved offset
    ///   (replaced); `readOnly`; the embedder's errors.
    public func watch(_ request: WatchRequest) async throws -> WatchResponse {
        guard !readOnly else { throw EngramError.readOnly }
        var reports: [SourceReport] = []
        let follow = request.follow ?? false
        // The sources' states, read once per pass.
        let known = try IngestState.allSources(in: store)
        var nextGeneration = (known.compactMap(\.1.generation).max() ?? 0) + 1
        let files = try Self.logFiles(request.paths, missingAllowed: follow ? Set(known.map(\.0)) : [])
        for file in try followRotations(files, in: Self.directories(of: request.paths), known: known) {
            if Task.isCancelled { break }
            do {
                reports.append(try await catchUp(file, format: request.format ?? ingestSettings.format, strict: request.strict ?? false,
                                                 follow: follow, nextGeneration: &nextGeneration))
            } catch let error as EngramError where follow {
                // Following, one file that cannot be read (replaced, truncated) does not stop the others.
                reports.append(SourceReport(path: file, format: nil, offset: 0, size: 0, lines: 0, applied: 0, skipped: 0, deadLetters: 0,
                                            waiting: false, error: error.message))
            }
        }
        // The texts just written may name entities: the graph's mentions follow them now.
        try graphUpToDate()
        return WatchResponse(sources: reports)
    }

    /// The saved progress of every source.
    public func ingestStatus() throws -> [SourceStatus] {
        try IngestState.allSources(in: store).map { path, s in
            var size: Int64?
            if let attributes = try? FileManager.default.attributesOfItem(atPath: path) {
                size = (attributes[.size] as? NSNumber)?.int64Value
            }
            return SourceStatus(path: path, format: s.format, offset: s.offset, size: size, lagBytes: size.map { max(0, $0 - s.offset) },
                                applied: s.applied, skipped: s.skipped, deadLetters: s.deadLetters, updatedAt: s.updatedAt)
        }
    }

    /// The dead letters, by file and offset, at most `limit`.
    public func deadLetters(limit: Int = 1000) throws -> [DeadLetter] {
        try IngestState.deadLetters(in: store, limit: limit)
    }

    /// The files of `paths`: each file itself, each directory's regular files sorted by name
    /// (hidden ones left out), as absolute paths. A missing path is `.notFound`, unless it is
    /// in `missingAllowed` (a followed log between its rotation and its successor).
    static func logFiles(_ paths: [String], missingAllowed: Set<String> = []) throws -> [String] {
        var files: [String] = []
        for path in paths {
            let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath).standardizedFileURL
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                if missingAllowed.contains(url.path) {
                    files.append(url.path)
                    continue
                }
                throw EngramError(.notFound, "no such file or directory: \(path)")
            }
            if isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: url.path).filter { !$0.hasPrefix(".") }.sorted()
                for name in names {
                    let file = url.appendingPathComponent(name)
                    var sub: ObjCBool = false
                    if FileManager.default.fileExists(atPath: file.path, isDirectory: &sub), !sub.boolValue { files.append(file.path) }
                }
            } else {
                files.append(url.path)
            }
        }
        return files
    }

    /// Follows rotations: a source whose file was renamed (another file, or none, now at its
    /// path; its own file found by identity in the same directory) moves to the new name, in
    /// one write for all of them, and is read to its end before the file now at the old path.
    /// A source whose file is gone for good is dropped with a warning (its tail cannot be
    /// read), so that the file now at its path starts from the beginning. Returns the files to
    /// read: known sources first, oldest first, then the new files in the order given.
    private func followRotations(_ files: [String], in watchedDirectories: Set<String>, known sources: [(String, IngestState.Source)]) throws -> [String] {
        let known = Dictionary(sources, uniquingKeysWith: { a, _ in a })
        var moves: [(from: String, to: String?)] = []
        var directories: [String: [IngestState.FileIdentity: String]] = [:]
        func identities(in directory: String) -> [IngestState.FileIdentity: String] {
            if let cached = directories[directory] { return cached }
            var found: [IngestState.FileIdentity: String] = [:]
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                let path = (directory as NSString).appendingPathComponent(name)
                if let identity = IngestState.FileIdentity(path: path) { found[identity] = path }
            }
            directories[directory] = found
            return found
        }
        for (path, state) in known where watchedDirectories.contains((path as NSString).deletingLastPathComponent) {
            guard let identity = state.file, IngestState.FileIdentity(path: path) != identity else { continue }
            let renamed = identities(in: (path as NSString).deletingLastPathComponent)[identity]
            moves.append((path, renamed))
        }
        var order = files.filter { FileManager.default.fileExists(atPath: $0) }
        if !moves.isEmpty {
            try store.write { tx in
                for move in moves { try tx.delete(IngestState.sources, key: Array(move.from.utf8)) }
                for move in moves {
                    guard let to = move.to, let state = known[move.from] else { continue }
                    try IngestState.put(state, path: to, in: tx)
                }
            }
            for move in moves {
                if let to = move.to {
                    logger.notice("\(move.from) was rotated to \(to): reading it to its end first")
                    if !order.contains(to) { order.append(to) }
                } else {
                    logger.warning("the file read as \(move.from) is gone (deleted, or replaced and removed): what was not read of it is lost; a file at that path is read from its start")
                }
            }
        }
        let generation = Dictionary(uniqueKeysWithValues: moves.compactMap { m in m.to.map { ($0, known[m.from]?.generation ?? 0) } })
            .merging(known.filter { !moves.map(\.from).contains($0.key) }.mapValues { $0.generation ?? 0 }) { a, _ in a }
        // Sources already known, oldest first; then new files in the order given.
        return order.enumerated().sorted { a, b in
            switch (generation[a.element], generation[b.element]) {
            case let (x?, y?): return (x, a.offset) < (y, b.offset)
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.offset < b.offset
            }
        }.map(\.element)
    }

    /// The directories `paths` name or hold their files in, as absolute paths (where a
    /// follower watches for changes).
    public static func directories(of paths: [String]) -> Set<String> {
        Set(paths.map { path in
            let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath).standardizedFileURL
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            return exists && isDirectory.boolValue ? url.path : url.deletingLastPathComponent().path
        })
    }

    /// Applies what is new in `path`; a new source takes `nextGeneration` (and moves it on).
    private func catchUp(_ path: String, format forced: LogFormat?, strict: Bool, follow: Bool,
                         nextGeneration: inout UInt64) async throws -> SourceReport {
        var state = try IngestState.source(path, in: store) ?? IngestState.Source()
        if state.generation == nil && state.offset == 0 {
            state.generation = nextGeneration
            nextGeneration += 1
        }
        state.file = IngestState.FileIdentity(path: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        let settled = !follow || ((attributes[.modificationDate] as? Date).map { -$0.timeIntervalSinceNow >= WatchRequest.settleSeconds } ?? true)
        guard size >= state.offset else {
            throw EngramError(.failedPrecondition, "\(path) is shorter (\(size) bytes) than what was applied from it (\(state.offset) bytes): it was truncated; move it aside to read it as a new log (a log rotated by renaming is followed)")
        }
        var report = SourceReport(path: path, format: forced ?? state.format, offset: state.offset, size: size, lines: 0, applied: 0,
                                  skipped: 0, deadLetters: 0, waiting: false, error: nil)
        let settings = ingestSettings
        let reader = try LineReader(path: path, maxLineBytes: settings.maxLineBytes, offset: state.offset, completeLinesOnly: true,
                                    skipOversized: true)
        var assembler = TransactionAssembler()
        var parser = try report.format.map { try LogParser(format: $0) }
        var pending: [PreparedUnit] = []
        var pendingChanges = 0
        // One batch is written (on the `writers` queue) while the next is read, parsed and mapped.
        var inFlight: Task<BatchOutcome, Error>?
        func settle() async throws {
            guard let task = inFlight else { return }
            inFlight = nil
            let outcome = try await task.value
            state = outcome.state
            report.offset = outcome.state.offset
            report.applied += outcome.applied
            report.skipped += outcome.skipped
            report.deadLetters += outcome.deadLetters
        }
        func flush() async throws {
            try await settle()
            guard !pending.isEmpty else { return }
            let batch = pending, before = state
            pending = []
            pendingChanges = 0
            inFlight = Task { try await self.apply(batch, path: path, state: before, strict: strict) }
        }
        func add(_ units: [TransactionAssembler.Unit]) {
            for unit in units {
                pending.append(prepare(unit, path: path))
                pendingChanges += unit.changes.count
            }
        }
        do {
            while !Task.isCancelled, let line = try reader.next() {
                report.lines += 1
                let bytes = Array(line.bytes)
                if line.isCut {
                    add(assembler.dead(.init(offset: line.offset, line: String(decoding: bytes, as: UTF8.self) + "…",
                                             error: "the line is \(line.fullLength) bytes long; [ingest] max_line_bytes is \(settings.maxLineBytes)"),
                                       endOffset: line.endOffset))
                } else if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                    add(assembler.add(.ignored("a blank line"), offset: line.offset, endOffset: line.endOffset))
                } else {
                    do {
                        if parser == nil {
                            parser = try LogParser(format: LogParser.detect(bytes))
                            report.format = parser!.format
                            state.format = parser!.format
                        }
                        let record = try parser!.parse(bytes, offset: UInt64(line.offset)).placed(inLog: state.generation ?? 0)
                        add(assembler.add(record, offset: line.offset, endOffset: line.endOffset))
                    } catch let error as EngramError {
                        add(assembler.dead(.init(offset: line.offset, line: String(decoding: bytes, as: UTF8.self), error: error.message),
                                           endOffset: line.endOffset))
                    }
                }
                if pendingChanges >= settings.batchChanges { try await flush() }
            }
            if !Task.isCancelled && settled, let last = assembler.finish() { add([last]) }
            try await flush()
            try await settle()
        } catch {
            // What was handed to the writer is applied or not as a whole; wait for it either way.
            try? await settle()
            throw error
        }
        report.waiting = assembler.waiting
        report.offset = state.offset
        return report
    }

    /// What one batch did: the source's state after it, and its counts.
    private struct BatchOutcome: Sendable {
        var state: IngestState.Source
        var applied = 0
        var skipped = 0
        var deadLetters = 0
    }

    /// Applies prepared `units` in one write (or, when a change is refused by the store, unit
    /// by unit, the refused unit's changes becoming dead letters), on the `writers` queue.
    private func apply(_ units: [PreparedUnit], path: String, state: IngestState.Source, strict: Bool) async throws -> BatchOutcome {
        var prepared = units
        try await fillVectors(&prepared)
        let dead = prepared.flatMap(\.dead)
        if strict, let first = dead.first {
            throw EngramError(.failedPrecondition, "\(path) at offset \(first.offset): \(first.error)", reason: .deadLetter)
        }
        let batch = prepared
        return try await withCheckedThrowingContinuation { continuation in
            Self.writers.async {
                continuation.resume(with: Result { try self.writeRefusingSeparately(batch, path: path, outcome: BatchOutcome(state: state)) })
            }
        }
    }

    private func writeRefusingSeparately(_ prepared: [PreparedUnit], path: String, outcome: BatchOutcome) throws -> BatchOutcome {
        do {
            return try write(prepared, path: path, outcome: outcome)
        } catch let error as EngramError where error.code == .invalidArgument && prepared.count > 1 {
            var outcome = outcome
            for unit in prepared { outcome = try writeRefusingSeparately([unit], path: path, outcome: outcome) }
            return outcome
        } catch let error as EngramError where error.code == .invalidArgument {
            // One unit the store refuses: its changes are dead letters, its lines are passed.
            var refused = prepared[0]
            refused.dead += refused.actions.map { DeadLetter(file: path, offset: $0.lineOffset, line: Self.describe($0.event),
                                                             error: error.message, at: Timestamp(Date().timeIntervalSince1970)) }
            refused.actions = []
            return try write([refused], path: path, outcome: outcome)
        }
    }

    /// A change as a dead letter shows it (the line itself may hold several changes).
    static func describe(_ event: ChangeEvent) -> String {
        "\(event.operation.rawValue) \(event.table.isEmpty ? "memory" : event.table) \(JSONValue.object(event.row))"
    }

    private struct PreparedUnit: Sendable {
        /// Each change's action; an upsert whose vector is known when the line is mapped comes
        /// `prepared` for the store too (validated, normalised, its text analysed), so that the
        /// writer holds the store's lock for the write alone (nil: the writer prepares it).
        var actions: [(event: ChangeEvent, action: TableMapping.Action, prepared: PreparedMemory?, lineOffset: Int64)]
        var dead: [DeadLetter]
        var endOffset: Int64
    }

    /// Maps a unit's changes to actions (a change that cannot be mapped is a dead letter).
    private func prepare(_ unit: TransactionAssembler.Unit, path: String) -> PreparedUnit {
        let now = Timestamp(Date().timeIntervalSince1970)
        var dead = unit.deadLetters.map { DeadLetter(file: path, offset: $0.offset, line: $0.line, error: $0.error, at: now) }
        var actions: [(event: ChangeEvent, action: TableMapping.Action, prepared: PreparedMemory?, lineOffset: Int64)] = []
        for (event, offset) in zip(unit.changes, unit.offsets) {
            do {
                let action = try ingestSettings.action(for: event)
                var prepared: PreparedMemory?
                if case let .upsert(m) = action {
                    if !m.vector.isEmpty && m.vector.count != settings.dimension {
                        throw EngramError.invalidArgument("the vector of \(m.id ?? "") has \(m.vector.count) dimensions; this database stores \(settings.dimension)")
                    }
                    if m.vector.isEmpty && m.text.isEmpty { throw EngramError.invalidArgument("\(m.id ?? ""): the row maps to an empty text and has no vector") }
                    // A memory the store refuses is left to the writer, whose refusal makes the
                    // whole unit dead letters (a transaction applies as a whole or not at all).
                    if !m.vector.isEmpty { prepared = try? store.prepareForWrite([m]).first }
                }
                actions.append((event, action, prepared, offset))
            } catch {
                dead.append(DeadLetter(file: path, offset: offset, line: Self.describe(event),
                                       error: (error as? EngramError)?.message ?? "\(error)", at: now))
            }
        }
        return PreparedUnit(actions: actions, dead: dead, endOffset: unit.endOffset)
    }

    /// Gives each upsert without a vector column its vector: the stored one when the text is
    /// unchanged, else a new embedding, all of a batch's texts in one call to the embedder.
    private func fillVectors(_ units: inout [PreparedUnit]) async throws {
        var needText: [(unit: Int, action: Int)] = []
        var texts: [String] = []
        for u in units.indices {
            for a in units[u].actions.indices {
                guard case var .upsert(m) = units[u].actions[a].action, m.vector.isEmpty else { continue }
                if let stored = try? store.get(m.id ?? ""), stored.text == m.text, stored.vector.count == settings.dimension {
                    m.vector = stored.vector
                    units[u].actions[a].action = .upsert(m)
                } else {
                    needText.append((u, a))
                    texts.append(m.text)
                }
            }
        }
        guard !texts.isEmpty else { return }
        for ((u, a), vector) in zip(needText, try await embedForStorage(texts)) {
            guard case var .upsert(m) = units[u].actions[a].action else { continue }
            m.vector = vector
            units[u].actions[a].action = .upsert(m)
        }
    }

    /// One write: the units' changes (each skipped when its row has seen its position), their
    /// rows' positions, the dead letters and the file's new offset and counters; `outcome`
    /// plus what this write did.
    private func write(_ units: [PreparedUnit], path: String, outcome: BatchOutcome) throws -> BatchOutcome {
        guard let end = units.last?.endOffset else { return outcome }
        var next = outcome.state
        var applied = 0, skipped = 0, deadCount = 0
        try store.write { tx in
            // What each row has seen: read at once, then as this write moves it on.
            var seen = try IngestState.positions(of: Set(units.flatMap { $0.actions.map(\.action.id) }), in: tx)
            var graph = GraphWrite(tx: tx)
            for unit in units {
                for (event, action, prepared, _) in unit.actions {
                    let id = action.id
                    if let seen = seen[id], event.position <= seen {
                        skipped += 1
                        continue
                    }
                    switch action {
                    case let .upsert(memory):
                        if let prepared { try tx.upsert([prepared]) } else { try tx.upsert([memory]) }
                    case let .delete(id): try tx.delete(ids: [id], ignoreMissing: true)
                    }
                    let mapping = ingestSettings.mapping(for: event.table)
                    if !mapping.links.isEmpty {
                        // The row's entity is its memory id; a delete closes its edges.
                        let targets = event.operation == .delete ? [] : mapping.targets(of: event.after ?? [:])
                        try graph.update(id, targets: targets, relations: mapping.linkRelations, at: event.commitTime ?? tx.now)
                    }
                    try tx.put(IngestState.rows, key: Array(id.utf8), value: event.position.bytes)
                    seen[id] = event.position
                    applied += 1
                }
                for letter in unit.dead {
                    try tx.put(IngestState.dead, key: IngestState.deadKey(path, offset: letter.offset),
                               value: Array(try JSONEncoder().encode(letter)))
                    deadCount += 1
                }
            }
            next.offset = end
            next.applied += applied
            next.skipped += skipped
            next.deadLetters += deadCount
            next.updatedAt = Timestamp(tx.now)
            try IngestState.put(next, path: path, in: tx)
        }
        return BatchOutcome(state: next, applied: outcome.applied + applied, skipped: outcome.skipped + skipped,
                            deadLetters: outcome.deadLetters + deadCount)
    }
}
