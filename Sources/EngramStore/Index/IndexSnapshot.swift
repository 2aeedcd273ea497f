import EngramBase
import Foundation
import Logging

/// The index on disk: `index/snapshot-<seq>.idx` holds the quantizer, the codes and errors of
/// every label, the IVF lists, and the change sequence it covers; an HNSW graph goes beside
/// it in `snapshot-<seq>.hnsw` (FAISS's format).
///
/// Layout (little-endian): `"ENGRAMIX"`, `u32 version`, `u64 seq`, `u32 d`, `u8 kind`,
/// `u64 labels`, `u64 trainedOn`, `u64 tombstones`, `d×f32 vmin`, `d×f32 step`,
/// `labels×d u8 codes`, `labels×f32 errors`, then for IVF `u32 nlist`, `nlist×d f32
/// centroids` and each list as `u32 n, n×i64`; then the catalog's columns (see
/// `Catalog.writeColumns`); last a `u64` checksum of everything before. With the columns, an
/// open reads no record but those the change log names after the snapshot.
/// Written to a temporary file, synced and renamed into place; a file that does not read back
/// exactly is ignored (and the index rebuilt from the source of truth).
enum IndexSnapshot {
    static let prefix = "snapshot-"
    static let suffix = ".idx"
    static let graphSuffix = ".hnsw"
    static let magic = Array("ENGRAMIX".utf8)
    static let version: UInt32 = 3

    struct Loaded {
        var index: VectorIndex
        var catalog: Catalog
        var trainedOn: Int
        var seq: UInt64
    }

    static func name(_ seq: UInt64, _ suffix: String) -> String { String(format: "%@%020llu%@", prefix, seq, suffix) }

    /// Writes the snapshot of `seq` atomically, then removes older snapshots (never a newer
    /// one, which a concurrent save may have written).
    static func save(_ index: VectorIndex, catalog: Catalog, trainedOn: Int, seq: UInt64, in directory: URL) throws {
        let codes = catalog.codes
        let fm = FileManager.default
        // Not with intermediate directories: a database directory removed under a store that
        // is still closing must not come back.
        if !fm.fileExists(atPath: directory.path) {
            do { try fm.createDirectory(at: directory, withIntermediateDirectories: false) } catch {
                throw EngramError.storage("cannot create \(directory.path): \(error.localizedDescription)")
            }
        }
        for leftover in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where leftover.hasPrefix(".") && leftover.hasSuffix(".tmp") {
            try? fm.removeItem(at: directory.appendingPathComponent(leftover))
        }
        if case let .hnsw(graph) = index.structure {
            try writeAtomically(directory, name(seq, graphSuffix)) { try graph.write(to: $0) }
        }
        let d = codes.dimension
        // Streamed to the file section by section (the codes chunk by chunk), so that a
        // snapshot never needs a second copy of the index in memory.
        try writeAtomically(directory, name(seq, suffix)) { path in
            let out = try SnapshotFile(creating: path)
            var w = ByteWriter(capacity: 1 << 20)
            magic.forEach { w.u8($0) }
            w.u32(version)
            w.u64(seq)
            w.u32(UInt32(d))
            w.u8(kindCode(index.kind))
            w.u64(UInt64(codes.count))
            w.u64(UInt64(trainedOn))
            w.u64(UInt64(index.tombstones))
            codes.quantizer.vmin.forEach { w.f32($0) }
            codes.quantizer.step.forEach { w.f32($0) }
            try out.append(&w)
            try codes.forEachChunk { bytes, _ in
                w.raw(bytes)
                try out.append(&w)
            }
            try codes.forEachChunk { _, errors in
                errors.forEach { w.f32($0) }
                try out.append(&w)
            }
            if case let .ivf(lists) = index.structure {
                w.u32(UInt32(lists.nlist))
                lists.centroids.forEach { w.f32($0) }
                for list in lists.lists {
                    w.u32(UInt32(list.count))
                    list.forEach { w.u64(UInt64(bitPattern: $0)) }
                }
                try out.append(&w)
            }
            catalog.writeColumns(to: &w)
            try out.append(&w)
            try out.finish()
        }
        for (url, other) in snapshots(in: directory) where other < seq {
            try? fm.removeItem(at: url)
            try? fm.removeItem(at: directory.appendingPathComponent(name(other, graphSuffix)))
        }
        // Format-1 snapshots (FAISS files) are replaced by this one.
        for file in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where file.hasSuffix(".faiss") {
            try? fm.removeItem(at: directory.appendingPathComponent(file))
        }
    }

    /// Runs `write` on a temporary path, syncs it and renames it to `name` (then syncs the
    /// directory).
    private static func writeAtomically(_ directory: URL, _ name: String, _ write: (String) throws -> Void) throws {
        let final = directory.appendingPathComponent(name)
        let temp = directory.appendingPathComponent(".\(name).tmp")
        try write(temp.path)
        try fsyncPath(temp.path)
        guard rename(temp.path, final.path) == 0 else { throw EngramError.fromErrno("renaming \(temp.path)", errno) }
        try fsyncPath(directory.path)
    }

    /// Snapshot files in `directory`, newest first.
    static func snapshots(in directory: URL) -> [(URL, UInt64)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> (URL, UInt64)? in
            guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
            guard let seq = UInt64(name.dropFirst(prefix.count).dropLast(suffix.count)) else { return nil }
            return (directory.appendingPathComponent(name), seq)
        }.sorted { $0.1 > $1.1 }
    }

    /// Whether `directory` holds snapshot files of an earlier format (FAISS files of format 1).
    static func hasOtherFiles(in directory: URL) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).contains { $0.hasSuffix(".faiss") }
    }

    /// Loads the newest snapshot that reads back exactly, or nil (with a log line).
    static func loadNewest(in directory: URL, settings: StoreSettings, logger: Logger) -> Loaded? {
        for (url, seq) in snapshots(in: directory) {
            do {
                return try load(url, seq: seq, directory: directory, settings: settings)
            } catch {
                logger.warning("ignoring index snapshot \(url.lastPathComponent): \(error)")
            }
        }
        return nil
    }

    private static func load(_ url: URL, seq: UInt64, directory: URL, settings: StoreSettings) throws -> Loaded {
        // Read in sections with pread: the codes go straight into their chunks, so that an
        // open never holds the file and the codes at once.
        let file = try SnapshotReader(path: url.path)
        let headerBytes = 8 + 4 + 8 + 4 + 1 + 8 + 8 + 8
        let header = try file.read(headerBytes)
        let (d, kindCode, labelCount, trainedOn, tombstones) = try header.withUnsafeBytes { raw in
            var h = ByteReader(raw)
            guard try (0..<8).map({ _ in try h.u8() }) == magic else { throw EngramError.corrupt("not an index snapshot") }
            guard try h.u32() == version else { throw EngramError.corrupt("unknown snapshot version") }
            guard try h.u64() == seq else { throw EngramError.corrupt("sequence differs from the file name") }
            return (Int(try h.u32()), try h.u8(), Int(try h.u64()), Int(try h.u64()), Int(try h.u64()))
        }
        guard d == settings.dimension else { throw EngramError.corrupt("dimension \(d), expected \(settings.dimension)") }
        guard labelCount <= 1 << 40, labelCount * (d + 4) < file.size else { throw EngramError.corrupt("bad label count") }
        let (vmin, step) = try file.read(2 * d * 4).withUnsafeBytes { raw in
            var q = ByteReader(raw)
            return (try q.floats(d), try q.floats(d))
        }
        var codes = Codes(quantizer: ScalarQuantizer(dimension: d, vmin: vmin, step: step))
        try codes.load(count: labelCount, bytes: { try file.read(into: $0) }, errors: { try file.read(into: $0) })
        let rest = try file.read(file.size - file.offset - 8)
        let stored = try file.read(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard file.checksum == stored else { throw EngramError.corrupt("checksum mismatch") }
        return try rest.withUnsafeBytes { raw -> Loaded in
            var r = ByteReader(raw)
            let structure: VectorIndex.Structure
            switch kindCode {
            case 0: structure = .flat
            case 1:
                let nlist = Int(try r.u32())
                guard nlist > 0 && nlist <= 1 << 20 else { throw EngramError.corrupt("bad list count") }
                let centroids = try r.floats(nlist * d)
                var lists: [[Int64]] = []
                lists.reserveCapacity(nlist)
                for _ in 0..<nlist {
                    let n = Int(try r.u32())
                    let labels = try r.int64s(n)
                    guard labels.allSatisfy({ $0 >= 0 && $0 < labelCount }) else { throw EngramError.corrupt("label out of range") }
                    lists.append(labels)
                }
                structure = .ivf(try IVFLists(dimension: d, centroids: centroids, lists: lists))
            case 2:
                let graph = try HNSWGraph(reading: directory.appendingPathComponent(name(seq, graphSuffix)).path)
                guard graph.dimension == d else { throw EngramError.corrupt("graph dimension \(graph.dimension)") }
                structure = .hnsw(graph)
            default:
                throw EngramError.corrupt("unknown index kind \(kindCode)")
            }
            let index = VectorIndex(structure: structure, settings: settings, tombstones: tombstones)
            let catalog = try Catalog.readColumns(&r, dimension: d, codes: codes)
            guard catalog.labelCount == labelCount else { throw EngramError.corrupt("columns and codes disagree") }
            return Loaded(index: index, catalog: catalog, trainedOn: trainedOn, seq: seq)
        }
    }

    private static func kindCode(_ kind: IndexKind) -> UInt8 {
        switch kind {
        case .flat, .auto: return 0
        case .ivf: return 1
        case .hnsw: return 2
        }
    }

    /// A 64-bit checksum of `bytes` (word sums with rotation: fast, catches torn and
    /// overwritten regions). `Checksum` computes the same over bytes given in pieces.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var sum = Checksum()
        sum.add(bytes)
        return sum.value
    }

    /// The running checksum of a byte stream.
    struct Checksum {
        private var a: UInt64 = 0x9E37_79B9_7F4A_7C15, b: UInt64 = 0
        private var count: UInt64 = 0
        /// Bytes of an unfinished word, carried to the next `add`.
        private var carry: [UInt8] = []

        mutating func add(_ bytes: UnsafeRawBufferPointer) {
            var start = 0
            if !carry.isEmpty {
                while carry.count < 8 && start < bytes.count { carry.append(bytes[start]); start += 1 }
                if carry.count == 8 {
                    word(carry.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                    carry.removeAll(keepingCapacity: true)
                }
            }
            let words = (bytes.count - start) / 8
            for i in 0..<words { word(bytes.loadUnaligned(fromByteOffset: start + i * 8, as: UInt64.self)) }
            for i in (start + words * 8)..<bytes.count { carry.append(bytes[i]) }
            count += UInt64(bytes.count)
        }

        private mutating func word(_ w: UInt64) {
            a = (a &+ w) &* 0x100_0000_01B3
            b = (b ^ a) &+ (b << 7 | b >> 57)
        }

        var value: UInt64 {
            var a = self.a
            for byte in carry { a = (a &+ UInt64(byte)) &* 0x100_0000_01B3 }
            return a ^ b ^ (count &* 0x9E37_79B9_7F4A_7C15)
        }
    }

    /// A snapshot being read from the start, section by section, into the running checksum
    /// (all but the last 8 bytes, which hold the checksum itself).
    final class SnapshotReader {
        private let fd: Int32
        private let path: String
        let size: Int
        private(set) var offset = 0
        private var sum = Checksum()

        init(path: String) throws {
            self.path = path
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw EngramError.fromErrno("opening \(path)", errno) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { close(fd); throw EngramError.fromErrno("reading \(path)", errno) }
            size = Int(info.st_size)
        }

        deinit { close(fd) }

        var checksum: UInt64 { sum.value }

        /// The next `count` bytes.
        func read(_ count: Int) throws -> [UInt8] {
            guard count >= 0, offset + count <= size else { throw EngramError.corrupt("truncated") }
            var out = [UInt8](repeating: 0, count: count)
            try out.withUnsafeMutableBytes { try read(into: $0) }
            return out
        }

        /// Fills `buffer` with the next bytes.
        func read(into buffer: UnsafeMutableRawBufferPointer) throws {
            guard offset + buffer.count <= size else { throw EngramError.corrupt("truncated") }
            var done = 0
            while done < buffer.count {
                let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw EngramError.fromErrno("reading \(path)", errno)
                }
                if n == 0 { throw EngramError.corrupt("truncated") }
                done += n
            }
            // The checksum covers everything but its own 8 bytes at the end.
            let covered = min(buffer.count, max(0, size - 8 - offset))
            sum.add(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<covered]))
            offset += buffer.count
        }
    }

    /// A snapshot being written: appends go to the file and into the running checksum, which
    /// `finish` appends last.
    final class SnapshotFile {
        private let fd: Int32
        private let path: String
        private var sum = Checksum()

        init(creating path: String) throws {
            self.path = path
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw EngramError.fromErrno("creating \(path)", errno) }
        }

        deinit { close(fd) }

        /// Writes what `w` holds and empties it.
        func append(_ w: inout ByteWriter) throws {
            try w.bytes.withUnsafeBytes { raw in
                sum.add(raw)
                try write(raw)
            }
            w.clear()
        }

        func finish() throws {
            var value = sum.value.littleEndian
            try withUnsafeBytes(of: &value) { try write($0) }
        }

        private func write(_ raw: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw EngramError.fromErrno("writing \(path)", errno)
                }
                done += n
            }
        }
    }
}
