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
    static let version: UInt32 = 2

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
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        for leftover in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where leftover.hasPrefix(".") && leftover.hasSuffix(".tmp") {
            try? fm.removeItem(at: directory.appendingPathComponent(leftover))
        }
        if case let .hnsw(graph) = index.structure {
            try writeAtomically(directory, name(seq, graphSuffix)) { try graph.write(to: $0) }
        }
        let d = codes.dimension
        var w = ByteWriter(capacity: 64 + codes.count * (d + 4) + index.entries * 8)
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
        codes.forEachChunk { bytes, _ in w.raw(bytes) }
        codes.forEachChunk { _, errors in errors.forEach { w.f32($0) } }
        if case let .ivf(lists) = index.structure {
            w.u32(UInt32(lists.nlist))
            lists.centroids.forEach { w.f32($0) }
            for list in lists.lists {
                w.u32(UInt32(list.count))
                list.forEach { w.u64(UInt64(bitPattern: $0)) }
            }
        }
        catalog.writeColumns(to: &w)
        w.u64(checksum(w.bytes))
        let bytes = w.bytes
        try writeAtomically(directory, name(seq, suffix)) { path in
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw EngramError.fromErrno("writing \(path)", errno)
            }
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
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        return try data.withUnsafeBytes { raw -> Loaded in
            guard raw.count >= 8 else { throw EngramError.corrupt("truncated") }
            let body = UnsafeRawBufferPointer(rebasing: raw[0..<raw.count - 8])
            let stored = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: raw.count - 8, as: UInt64.self))
            guard checksum(body) == stored else { throw EngramError.corrupt("checksum mismatch") }
            var r = ByteReader(body)
            guard try (0..<8).map({ _ in try r.u8() }) == magic else { throw EngramError.corrupt("not an index snapshot") }
            guard try r.u32() == version else { throw EngramError.corrupt("unknown snapshot version") }
            guard try r.u64() == seq else { throw EngramError.corrupt("sequence differs from the file name") }
            let d = Int(try r.u32())
            guard d == settings.dimension else { throw EngramError.corrupt("dimension \(d), expected \(settings.dimension)") }
            let kindCode = try r.u8()
            let labelCount = Int(try r.u64()), trainedOn = Int(try r.u64()), tombstones = Int(try r.u64())
            let vmin = try r.floats(d), step = try r.floats(d)
            var codes = Codes(quantizer: ScalarQuantizer(dimension: d, vmin: vmin, step: step))
            codes.load(bytes: try r.raw(labelCount * d), errors: try r.raw(labelCount * 4), count: labelCount)
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
    /// overwritten regions).
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15, b: UInt64 = UInt64(bytes.count)
        let words = bytes.count / 8
        for i in 0..<words {
            let w = bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
            a = (a &+ w) &* 0x100_0000_01B3
            b = (b ^ a) &+ (b << 7 | b >> 57)
        }
        for i in words * 8..<bytes.count { a = (a &+ UInt64(bytes[i])) &* 0x100_0000_01B3 }
        return a ^ b
    }

    static func checksum(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { checksum($0) } }
}
