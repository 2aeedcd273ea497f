import EngramBase
import EngramStore
import Foundation
import Testing

@Suite("Persistence, updates, deletes and time semantics")
struct LifecycleTests {
    @Test("memories and query results survive close and reopen", arguments: [IndexKind.flat, .ivf, .hnsw])
    func persistence(kind: IndexKind) throws {
        try withTempDirectory { dir in
            let memories = makeMemories(count: 1200, dimension: 32, seed: 9)
            let q = memories[5].vector
            let before: [String]
            do {
                let store = try MemoryStore.create(at: dir, settings: testSettings(kind))
                try store.upsert(memories)
                before = try store.query(MemoryQuery(vector: q, k: 10, now: baseNow)).results.map(\.id)
                try store.close()
                #expect(throws: EngramError.closed) { try store.get("m1") }
            }
            let store = try MemoryStore.open(at: dir)
            #expect(store.count() == 1200)
            let m = try store.get("m7")
            #expect(m.text == "memory 7" && m.namespace == memories[7].namespace && m.tags == memories[7].tags.sorted())
            #expect(m.meta == memories[7].meta && m.time == memories[7].time! && m.importance == memories[7].importance)
            #expect(try store.query(MemoryQuery(vector: q, k: 10, now: baseNow)).results.map(\.id) == before)
            #expect(try store.check().ok)
        }
    }

    @Test("close stops a growth of the IVF lists that writes started; the next writable open grows them, and its close waits")
    func closeStopsListGrowth() throws {
        try withTempDirectory { dir in
            let memories = makeMemories(count: 2100, dimension: 32, seed: 12)
            let q = memories[3].vector
            let log = RendezvousLog(waitAt: "building the ivf index (64 lists)", releaseAt: "closing: stopping the growth")
            let before: [String]
            do {
                let store = try MemoryStore.create(at: dir, settings: testSettings(.ivf), logger: log.logger)
                try store.upsert(Array(memories[..<1100]))
                store.waitForBackgroundWork()
                #expect(try store.stats().ivfLists == 32)
                // 2,100 memories call for 64 lists: the rebuild that grows them (keeping the
                // codes trained at 1,100) waits at its start until close has stopped it.
                log.arm()
                try store.upsert(Array(memories[1100...]))
                before = try store.query(MemoryQuery(vector: q, k: 10, now: baseNow)).results.map(\.id)
                try store.close()
                #expect(log.metAndReleased)
            }
            do {
                let store = try MemoryStore.open(at: dir, readOnly: true)
                #expect(store.count() == 2100)
                #expect(try store.stats().ivfLists == 32)
                #expect(try store.query(MemoryQuery(vector: q, k: 10, now: baseNow)).results.map(\.id) == before)
                try store.close()
            }
            // A writable open starts the growth again; its close waits for it.
            try MemoryStore.open(at: dir).close()
            let store = try MemoryStore.open(at: dir, readOnly: true)
            #expect(try store.stats().ivfLists == 64)
            #expect(try store.query(MemoryQuery(vector: q, k: 10, now: baseNow)).results.map(\.id) == before)
            #expect(try store.check().ok)
        }
    }

    /// The heap is trimmed only once writes pause (`MemoryStore.heapTrimQuietPeriod`): never
    /// while changes keep coming, and not by a store that is closing.
    @Test("the heap's free pages go back to the system once writes pause for 2 s, never while they go on, not after close")
    func heapTrimmedWhenQuiet() throws {
        try withTempDirectory { dir in
            var settings = testSettings(.flat, dimension: 8)
            settings.snapshotEvery = 100
            let log = LogRecorder()
            let trimmed = "returned the heap's free pages"
            let store = try MemoryStore.create(at: dir, settings: settings, logger: log.logger)
            let memories = makeMemories(count: 1500, dimension: 8, seed: 5)
            // A batch of 150 every 0.25 s: each starts a snapshot, after which a trim waits for a pause.
            // (When the last write began: its change is committed after that.)
            var lastWrite = DispatchTime.now()
            for start in stride(from: 0, to: 1500, by: 150) {
                lastWrite = DispatchTime.now()
                try store.upsert(Array(memories[start..<(start + 150)]))
                Thread.sleep(forTimeInterval: 0.25)
            }
            #expect(log.times(of: trimmed).isEmpty)
            // The writes stopped: within 2 s (the wait armed before the last write re-arms once)
            // plus the last snapshot, the pages go back, and not before 2 s.
            let deadline = Date().addingTimeInterval(15)
            while log.times(of: trimmed).isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            let times = log.times(of: trimmed)
            #expect(times.count == 1)
            if let first = times.first {
                #expect(first.uptimeNanoseconds - lastWrite.uptimeNanoseconds >= 2_000_000_000)
            }
            // A write that starts a snapshot, then close: nothing is trimmed afterwards.
            try store.upsert(Array(memories[..<150]).map { var m = $0; m.text = "again"; return m })
            store.waitForBackgroundWork()
            try store.close()
            Thread.sleep(forTimeInterval: 2.5)
            #expect(log.times(of: trimmed).count == 1)
        }
    }

    @Test("upsert replaces: new content, same createdAt, old vector gone")
    func upsertReplaces() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 4))
            try store.upsert([NewMemory(id: "a", text: "old", vector: [1, 0, 0, 0], tags: ["x"])], now: 100)
            try store.upsert([NewMemory(id: "a", text: "new", vector: [0, 1, 0, 0])], now: 200)
            let a = try store.get("a")
            #expect(a.text == "new" && a.tags.isEmpty && a.createdAt == 100 && a.updatedAt == 200)
            #expect(store.count() == 1)
            let hits = try store.query(MemoryQuery(vector: [1, 0, 0, 0], k: 5)).results
            #expect(hits.count == 1 && hits[0].memory?.text == "new" && abs(hits[0].similarity) < 1e-6)
            // Within one batch the last entry for an id wins.
            try store.upsert([NewMemory(id: "b", text: "1", vector: [0, 0, 1, 0]), NewMemory(id: "b", text: "2", vector: [0, 0, 0, 1])])
            #expect(try store.get("b").text == "2" && store.count() == 2)
            #expect(try store.check().ok)
        }
    }

    @Test("deleted memories are never returned, before and after compaction and reopen",
          arguments: [IndexKind.flat, .ivf, .hnsw])
    func deletes(kind: IndexKind) throws {
        try withTempDirectory { dir in
            let memories = makeMemories(count: 1000, dimension: 32, seed: 4)
            var store = try MemoryStore.create(at: dir, settings: testSettings(kind))
            try store.upsert(memories)
            let deleted = Set((0..<1000).filter { $0 % 3 == 0 }.map { "m\($0)" })
            #expect(try store.delete(ids: Array(deleted)) == deleted.count)
            func assertNoneReturned() throws {
                for i in stride(from: 0, to: 1000, by: 50) {
                    let ids = try store.query(MemoryQuery(vector: memories[i].vector, k: 50,
                                                          scoring: ScoringOptions(wTime: 0.5), now: baseNow)).results.map(\.id)
                    #expect(ids.count == 50)
                    #expect(Set(ids).isDisjoint(with: deleted))
                }
                #expect(store.count() == 1000 - deleted.count)
                #expect(try store.check().ok)
            }
            try assertNoneReturned()
            if kind == .hnsw { #expect(try store.stats().tombstones == deleted.count) }
            try store.close()
            store = try MemoryStore.open(at: dir)
            try assertNoneReturned()
            try store.compact()
            #expect(try store.stats().tombstones == 0)
            try assertNoneReturned()
            #expect(throws: EngramError.notFound(id: "m0")) { try store.get("m0") }
            // Delete by filter.
            let alpha = store.count(matching: MemoryFilter(namespace: "alpha"))
            #expect(try store.delete(matching: MemoryFilter(namespace: "alpha")) == alpha)
            #expect(store.count(matching: MemoryFilter(namespace: "alpha")) == 0)
            #expect(try store.check().ok)
        }
    }

    @Test("a deleted memory's id and metadata are not in the index snapshot written after it")
    func deletedLeavesNothingInSnapshot() throws {
        try withTempDirectory { dir in
            var memories = makeMemories(count: 1200, dimension: 32, seed: 5)
            memories[7].id = "gone-7f3a"
            memories[7].meta = ["note": .string("tangerine-91")]
            let store = try MemoryStore.create(at: dir, settings: testSettings(.ivf))
            try store.upsert(memories)
            #expect(try store.delete(ids: ["gone-7f3a"]) == 1)
            try store.close()  // 1,201 changes since the last snapshot: closing writes one
            // The newest snapshot (an older one may stay as a fallback, from before the delete).
            let files = try FileManager.default.contentsOfDirectory(at: dir.appendingPathComponent("index"), includingPropertiesForKeys: nil)
            let newest = try #require(files.filter { $0.lastPathComponent.hasPrefix("snapshot-") }.max { $0.lastPathComponent < $1.lastPathComponent })
            let bytes = try Data(contentsOf: newest)
            #expect(bytes.range(of: Data("m8".utf8)) != nil && bytes.range(of: Data("\"kind\"".utf8)) != nil)
            #expect(bytes.range(of: Data("gone-7f3a".utf8)) == nil)
            #expect(bytes.range(of: Data("tangerine-91".utf8)) == nil)
            let reopened = try MemoryStore.open(at: dir)
            #expect(throws: EngramError.notFound(id: "gone-7f3a")) { try reopened.get("gone-7f3a") }
            #expect(reopened.count() == 1199)
            #expect(try reopened.get("m8").meta == memories[8].meta)
            #expect(try reopened.check().ok)
        }
    }

    @Test("asOf, now, expiry and access-based decay")
    func timeSemantics() throws {
        try withTempDirectory { dir in
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 2))
            try store.upsert([
                NewMemory(id: "old", vector: [1, 0], time: 1000),
                NewMemory(id: "mid", vector: [1, 0.01], time: 2000, expiresAt: 2500),
                NewMemory(id: "new", vector: [1, 0.02], time: 3000),
                NewMemory(id: "fact", vector: [1, 0.03], time: 1500, validTo: 2200),
            ], now: 5000)
            func ids(_ f: MemoryFilter, now: Double, wTime: Double = 0) throws -> [String] {
                try store.query(MemoryQuery(vector: [1, 0], k: 10, filter: f,
                                            scoring: ScoringOptions(wTime: wTime, halfLife: 1000), now: now)).results.map(\.id)
            }
            // now = 2100: "mid" in force; "fact" in force; asOf hides what happened later.
            #expect(Set(try ids(MemoryFilter(asOf: 2100), now: 5000)) == ["old", "mid", "fact"])
            #expect(Set(try ids(MemoryFilter(asOf: 2300), now: 5000)) == ["old", "mid"])
            #expect(Set(try ids(MemoryFilter(asOf: 2600), now: 5000)) == ["old"])
            // Without asOf, expiry is measured at now.
            #expect(Set(try ids(MemoryFilter(), now: 2400)) == ["old", "mid", "new"])
            #expect(Set(try ids(MemoryFilter(), now: 2600)) == ["old", "new"])
            // Recency with an explicit now: the newest wins when time dominates.
            let ranked = try store.query(MemoryQuery(vector: [1, 0], k: 3, scoring: ScoringOptions(wSim: 0, wTime: 1, halfLife: 1000), now: 3000)).results
            #expect(ranked.map(\.id) == ["new", "old"])
            #expect(abs(ranked[0].recency - 1) < 1e-12 && abs(ranked[1].recency - 0.25) < 1e-12)
            // Access-based decay: touching "old" makes it the most recent.
            _ = try store.query(MemoryQuery(vector: [1, 0], k: 1, filter: MemoryFilter(namespace: "default"), now: 4000, touch: true))
            #expect(try store.get("old").lastAccessedAt == 4000)
            let byAccess = try store.query(MemoryQuery(vector: [1, 0], k: 1, scoring: ScoringOptions(wSim: 0, wTime: 1, halfLife: 1000, decay: .access), now: 4000))
            #expect(byAccess.results.first?.id == "old")
        }
    }

    @Test("a missing or corrupt index snapshot is rebuilt from RocksDB")
    func snapshotRecovery() throws {
        try withTempDirectory { dir in
            let memories = makeMemories(count: 800, dimension: 32, seed: 2)
            var store = try MemoryStore.create(at: dir, settings: testSettings(.ivf))
            try store.upsert(memories)
            let q = MemoryQuery(vector: memories[3].vector, k: 10)
            let expected = try store.query(q).results.map(\.id)
            try store.close()
            let indexDir = dir.appendingPathComponent("index")
            // Corrupt: truncate every snapshot file.
            for name in try FileManager.default.contentsOfDirectory(atPath: indexDir.path) {
                try Data("garbage".utf8).write(to: indexDir.appendingPathComponent(name))
            }
            store = try MemoryStore.open(at: dir)
            #expect(try store.check().ok)
            #expect(recall(try store.query(q).results.map(\.id), expected) >= 0.9)
            try store.close()
            // Missing.
            try FileManager.default.removeItem(at: indexDir)
            store = try MemoryStore.open(at: dir)
            #expect(try store.check().ok && store.count() == 800)
        }
    }

    /// Flips the byte at `offset` (from the end when negative) of the only snapshot file;
    /// returns the file's path.
    private func damageSnapshot(in dir: URL, at offset: Int64) throws -> URL {
        let indexDir = dir.appendingPathComponent("index")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: indexDir.path).first { $0.hasSuffix(".idx") })
        let url = indexDir.appendingPathComponent(name)
        let file = try FileHandle(forUpdating: url)
        let size = try file.seekToEnd()
        let at = offset >= 0 ? UInt64(offset) : size - UInt64(-offset)
        try file.seek(toOffset: at)
        let byte = try #require(try file.read(upToCount: 1)).first ?? 0
        try file.seek(toOffset: at)
        try file.write(contentsOf: Data([byte ^ 0xFF]))
        try file.close()
        return url
    }

    /// An IVF database of 800 memories, compacted (so its snapshot is fresh) and closed.
    private func compactedDatabase(at dir: URL, seed: UInt64) throws -> [NewMemory] {
        let memories = makeMemories(count: 800, dimension: 32, seed: seed)
        let store = try MemoryStore.create(at: dir, settings: testSettings(.ivf))
        try store.upsert(memories)
        try store.compact()
        try store.close()
        return memories
    }

    @Test("a snapshot with one byte of its structure or columns changed fails its checksum and is rebuilt, never trusted")
    func snapshotChecksum() throws {
        try withTempDirectory { dir in
            let memories = try compactedDatabase(at: dir, seed: 3)
            var store = try MemoryStore.open(at: dir)
            let q = MemoryQuery(vector: memories[5].vector, k: 10)
            let expected = try store.query(q).results.map(\.id)
            try store.close()
            // A byte among the catalog's columns: the layout still parses, only the checksum can tell.
            let damagedURL = try damageSnapshot(in: dir, at: -200)
            let damaged = try Data(contentsOf: damagedURL)
            store = try MemoryStore.open(at: dir)
            // Rebuilt from the records and vectors: a new snapshot replaced the damaged one.
            let indexDir = dir.appendingPathComponent("index")
            let names = try FileManager.default.contentsOfDirectory(atPath: indexDir.path).filter { $0.hasSuffix(".idx") }
            #expect(names.count == 1)
            #expect(try Data(contentsOf: indexDir.appendingPathComponent(names[0])) != damaged)
            #expect(try store.check().ok)
            #expect(try store.query(q).results.map(\.id) == expected)
            try store.close()
        }
    }

    @Test("codes damaged on disk are found by check (against the vectors) and made anew by compact")
    func damagedCodes() throws {
        try withTempDirectory { dir in
            _ = try compactedDatabase(at: dir, seed: 4)
            // The codes start on the first page boundary (4096), a row of d bytes per label, labels
            // in insertion order: this byte is in the row of m5.
            _ = try damageSnapshot(in: dir, at: 4096 + 5 * 32 + 3)
            let store = try MemoryStore.open(at: dir)
            let report = try store.check()
            #expect(!report.ok)
            #expect(report.mismatchedCodes == ["m5"])
            #expect(report.missingFromIndex.isEmpty && report.inconsistentRecords.isEmpty)
            try store.compact()
            #expect(try store.check().ok)
            try store.close()
        }
    }

    @Test("changes after the last snapshot are replayed on open")
    func replayAfterSnapshot() throws {
        try withTempDirectory { dir in
            let memories = makeMemories(count: 700, dimension: 32, seed: 6)
            do {
                let store = try MemoryStore.create(at: dir, settings: testSettings(.ivf))
                try store.upsert(Array(memories[0..<600]))
                try store.compact() // snapshot now covers the first 600
                try store.upsert(Array(memories[600...]))
                try store.delete(ids: ["m1", "m650"])
                // The full-text merge of those writes and RocksDB's compactions run in the
                // background: let them stop, so that the copy below does not race their files
                // (a compaction deleted an SST file during the copy in one CI run).
                try store.quiesceFilesForCopy()
                // Simulate a crash: skip close(), so no new snapshot is written.
                _ = Unmanaged.passRetained(store)
            }
            // A second handle in this process would collide with RocksDB's in-process lock,
            // so copy the directory as a crashed process would have left it.
            let copy = dir.deletingLastPathComponent().appendingPathComponent("copy")
            try FileManager.default.copyItem(at: dir, to: copy)
            try? FileManager.default.removeItem(at: copy.appendingPathComponent("kv/LOCK"))
            let store = try MemoryStore.open(at: copy)
            #expect(store.count() == 698)
            let report = try store.check()
            #expect(report.ok, "missing \(report.missingFromIndex.prefix(5)) unknown \(report.unknownInIndex.prefix(5))")
            let hits = try store.query(MemoryQuery(vector: memories[650].vector, k: 5)).results.map(\.id)
            #expect(!hits.contains("m650") && hits.count == 5)
            #expect(try store.get("m699").text == "memory 699")
        }
    }

    /// RocksDB (Debian's build, with assertions) aborts the process when asked to flush again
    /// after a flush failed; a store released after its directory went away did exactly that.
    @Test("after a failed flush, writes and closing report storage errors; RocksDB is never asked to flush again")
    func failedFlushIsNotRetried() throws {
        try withTempDirectory { dir in
            var settings = testSettings(.flat)
            settings.snapshotEvery = 1500
            let store = try MemoryStore.create(at: dir, settings: settings)
            // 2,000 records of 1 KB: the memtables pass the size from which a snapshot flushes.
            let memories = makeMemories(count: 2000, dimension: 32, seed: 12).map {
                var m = $0
                m.text = String(repeating: "x", count: 1000)
                return m
            }
            try store.upsert(Array(memories[..<1000]))
            // The log stays writable (its file is open); a flush needs a new file in kv/ and
            // fails. (A rename, not a removal: RocksDB may be writing files there meanwhile.)
            try FileManager.default.moveItem(at: dir.appendingPathComponent("kv"),
                                             to: dir.deletingLastPathComponent().appendingPathComponent("kv-moved"))
            // Starts a snapshot, whose flush fails; RocksDB then refuses further writes, so the
            // part of this upsert committed after that failure is refused with a storage error.
            do {
                try store.upsert(Array(memories[1000...]))
            } catch let error as EngramError {
                #expect(error.code == .unavailable && error.reason == .storageFailure)
            }
            store.waitForBackgroundWork()
            // Whether close still has a flush or a snapshot to write depends on where the
            // failure fell; what it must never do is ask RocksDB to flush again (an abort).
            do {
                try store.close()
            } catch let error as EngramError {
                // The refused second flush, or (when RocksDB's own background flush failed
                // first) the closing snapshot's write: a storage error either way, no abort.
                #expect(error.code == .unavailable && error.reason == .storageFailure)
            }
        }
    }
}
