import EngramBase
import Foundation
import Logging

/// The index on disk: `index/snapshot-<seq>.idx` holds the quantizer, the codes and errors of
/// every label, the IVF lists, and the change sequence it covers; an HNSW graph goes beside
/// it in `snapshot-<seq>.hnsw` (FAISS's format).
///
/// Layout (little-endian): `"ENGRAMIX"`, `u32 version`, `u64 seq`, `u32 d`, `u8 kind`,
/// `u64 labels`, `u64 trainedOn`, `u64 tombstones`, `f64 trainedMeanError`, `d×f32 vmin`,
/// `d×f32 step`, zeros up to the next page (`codesAlignment`); `labels×d u8 codes`, zeros up
/// to a multiple of 4, `labels×f32 errors` (both zero for dead labels); then for IVF `u32 nlist`, `nlist×d f32 centroids` and each list as
/// `u32 n, n×i64`; then the catalog's columns (see `Catalog.writeColumns`); last a `u64`
/// checksum of everything before but the codes and errors.
///
/// An open maps the file and reads only what is not codes: the codes stay in the page cache
/// until a scan touches them, so an open costs the columns, not the index. The checksum
/// guards the structure and the columns; the codes are checked against the vectors they were
/// made from by `check` (as the vectors themselves, they are read unverified), and `compact`
/// makes them anew. With the columns, an open reads no record but those the change log names
/// after the snapshot.
///
/// Written to a temporary file, synced and renamed into place; a file that does not read back
/// exactly is ignored (and the index rebuilt from the source of truth).
enum IndexSnapshot {
    static let prefix = "snapshot-"
    static let suffix = ".idx"
    static let graphSuffix = ".hnsw"
    static let magic = Array("ENGRAMIX".utf8)
    static let version: UInt32 = 4
    /// Where the codes start: a page boundary, so that every chunk of rows starts on one.
    static let codesAlignment = 4096

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
            w.f64(codes.trainedMeanError)
            codes.quantizer.vmin.forEach { w.f32($0) }
            codes.quantizer.step.forEach { w.f32($0) }
            w.raw(repeatElement(0, count: padding(out.written + w.bytes.count, codesAlignment)))
            try out.append(&w)
            // The codes and errors are left out of the checksum (see the type's comment). The
            // rows of labels dead in this catalog are written as zeros, never read: the writer
            // may be giving such a label to a new memory meanwhile (see `takeFreeLabel`).
            var first = 0
            try codes.forEachChunk { bytes, _ in
                for row in 0..<bytes.count / d {
                    if catalog.isLive(Int64(first + row)) {
                        w.raw(UnsafeBufferPointer(rebasing: bytes[row * d..<(row + 1) * d]))
                    } else {
                        w.raw(repeatElement(0, count: d))
                    }
                }
                first += bytes.count / d
                try out.append(&w, checksummed: false)
            }
            w.raw(repeatElement(0, count: padding(out.written, 4)))
            first = 0
            try codes.forEachChunk { _, errors in
                for (row, error) in errors.enumerated() { w.f32(catalog.isLive(Int64(first + row)) ? error : 0) }
                first += errors.count
                try out.append(&w, checksummed: false)
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
            try catalog.writeColumns(to: &w) { try out.append(&$0) }
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

    /// Zero bytes that bring `offset` to a multiple of `alignment`.
    static func padding(_ offset: Int, _ alignment: Int) -> Int { (alignment - offset % alignment) % alignment }

    private static func load(_ url: URL, seq: UInt64, directory: URL, settings: StoreSettings) throws -> Loaded {
        let region = try MappedRegion(privateFile: url.path)
        let file = region.bytes
        var h = ByteReader(file)
        guard try (0..<8).map({ _ in try h.u8() }) == magic else { throw EngramError.corrupt("not an index snapshot") }
        guard try h.u32() == version else { throw EngramError.corrupt("unknown snapshot version") }
        guard try h.u64() == seq else { throw EngramError.corrupt("sequence differs from the file name") }
        let (d, kindCode, labelCount, trainedOn, tombstones) = (Int(try h.u32()), try h.u8(), Int(try h.u64()), Int(try h.u64()), Int(try h.u64()))
        guard d == settings.dimension else { throw EngramError.corrupt("dimension \(d), expected \(settings.dimension)") }
        guard labelCount <= 1 << 40, labelCount * (d + 4) < file.count else { throw EngramError.corrupt("bad label count") }
        let trainedMeanError = try h.f64()
        let (vmin, step) = (try h.floats(d), try h.floats(d))
        let codesAt = h.position + padding(h.position, codesAlignment)
        let errorsAt = codesAt + labelCount * d + padding(labelCount * d, 4)
        let restAt = errorsAt + labelCount * 4
        guard restAt + 8 <= file.count else { throw EngramError.corrupt("truncated") }
        var sum = Checksum()
        sum.add(UnsafeRawBufferPointer(rebasing: file[0..<codesAt]))
        sum.add(UnsafeRawBufferPointer(rebasing: file[restAt..<file.count - 8]))
        guard sum.value == UInt64(littleEndian: file.loadUnaligned(fromByteOffset: file.count - 8, as: UInt64.self)) else {
            throw EngramError.corrupt("checksum mismatch")
        }
        let codes = Codes(quantizer: ScalarQuantizer(dimension: d, vmin: vmin, step: step),
                          trainedMeanError: trainedMeanError, count: labelCount,
                          region: region, codesAt: codesAt, errorsAt: errorsAt)
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: file[restAt..<file.count - 8]))
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

        /// Bytes written so far.
        private(set) var written = 0

        /// Writes what `w` holds and empties it; `checksummed` says whether the bytes count in
        /// the checksum.
        func append(_ w: inout ByteWriter, checksummed: Bool = true) throws {
            try w.bytes.withUnsafeBytes { raw in
                if checksummed { sum.add(raw) }
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
            written += raw.count
        }
    }
}
