import EngramBase
import Foundation
import Logging

/// The derived ANN index over the live vectors: which FAISS index to use, when to train or
/// rebuild it, and its snapshots on disk.
///
/// RocksDB stays the source of truth: this index can always be rebuilt from the catalog.
/// Snapshot files are named `snapshot-<seq>.faiss`, `seq` being the last change they cover.
final class VectorIndex {
    private(set) var faiss: FaissIndex
    private let settings: StoreSettings
    /// Entries in FAISS whose label is dead (HNSW cannot remove; others remove eagerly).
    private(set) var tombstones = 0

    private init(faiss: FaissIndex, settings: StoreSettings) {
        self.faiss = faiss
        self.settings = settings
    }

    var kind: String { faiss.kind }
    var count: Int { faiss.count }
    var nlist: Int { faiss.nlist }
    /// Whether search results are exact (a flat index).
    var isExact: Bool { kind == "flat" }

    /// The IVF list count for `n` vectors: the power of two at or below 4·√n (FAISS's usual
    /// range is 4·√n to 16·√n), with at least 32 vectors a list, between 8 and 65,536.
    static func ivfListCount(for n: Int) -> Int {
        let target = min(4 * Double(n).squareRoot(), Double(n) / 32)
        var lists = 8
        while lists * 2 <= Int(target) && lists < 65_536 { lists *= 2 }
        return lists
    }

    /// The index kind `settings` asks for at `liveCount` memories.
    static func targetKind(_ settings: StoreSettings, liveCount: Int) -> String {
        switch settings.index {
        case .flat: return "flat"
        case .hnsw: return "hnsw"
        case .ivf: return liveCount >= settings.ivfMinimumTrainingSize ? "ivf" : "flat"
        case .auto: return liveCount >= settings.autoIVFThreshold ? "ivf" : "flat"
        }
    }

    /// Whether the index should be rebuilt after growing to `liveCount` memories: a switch
    /// from flat to IVF, or an IVF with half the lists the size now calls for (the count
    /// grew 4× since training; `compact` retrains at any size).
    func shouldGrow(liveCount: Int) -> Bool {
        let target = Self.targetKind(settings, liveCount: liveCount)
        if target == "ivf" && kind == "flat" { return true }
        if kind == "ivf" && Self.ivfListCount(for: liveCount) >= 2 * nlist { return true }
        return false
    }

    /// Builds a fresh index over every live memory of `catalog` (training IVF if needed).
    static func build(settings: StoreSettings, catalog: Catalog, logger: Logger) throws -> VectorIndex {
        let labels = catalog.liveLabels()
        let kind = targetKind(settings, liveCount: labels.count)
        let d = catalog.dimension
        let start = DispatchTime.now()
        let description: String
        switch kind {
        case "ivf": description = "IVF\(ivfListCount(for: labels.count)),Flat"
        case "hnsw": description = "IDMap2,HNSW\(settings.hnswM)"
        default: description = "IDMap2,Flat"
        }
        FaissIndex.setThreads(settings.effectiveThreads)
        let faiss = try FaissIndex.make(dimension: d, description: description)
        if kind == "hnsw" { try faiss.setParameter("efSearch", Double(settings.efSearch)) }
        if !faiss.isTrained {
            // Train on an evenly spaced sample of `trainingPointsPerList` points a list.
            let sampleSize = min(labels.count, trainingPointsPerList * faiss.nlist)
            let stride = max(1, labels.count / max(1, sampleSize))
            var sample: [Float] = []
            sample.reserveCapacity(sampleSize * d)
            for i in Swift.stride(from: 0, to: labels.count, by: stride).prefix(sampleSize) {
                sample.append(contentsOf: catalog.vector(labels[i]))
            }
            try sample.withUnsafeBufferPointer { try faiss.trainTwoLevel($0, iterations: kmeansIterations) }
        }
        let index = VectorIndex(faiss: faiss, settings: settings)
        try index.add(labels: labels, from: catalog)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
        logger.info("built \(description) index over \(labels.count) memories in \(Int(ms)) ms")
        return index
    }

    /// Adds the vectors of `labels` (taken from `catalog`), in chunks.
    func add(labels: [Int64], from catalog: Catalog) throws {
        let d = catalog.dimension
        let chunk = 8192
        var buffer: [Float] = []
        for start in stride(from: 0, to: labels.count, by: chunk) {
            let part = Array(labels[start..<min(start + chunk, labels.count)])
            buffer.removeAll(keepingCapacity: true)
            buffer.reserveCapacity(part.count * d)
            for label in part { buffer.append(contentsOf: catalog.vector(label)) }
            try buffer.withUnsafeBufferPointer { try faiss.add($0, labels: part) }
        }
    }

    /// Removes `labels`, or records them as tombstones when the index cannot remove.
    func remove(labels: [Int64]) throws {
        guard !labels.isEmpty else { return }
        if faiss.supportsRemoval {
            try faiss.remove(labels: labels)
        } else {
            tombstones += labels.count
        }
    }

    /// IVF lists to probe for a query: the `nprobe` setting, else 1/64 of the lists (at
    /// least 8), and at least enough lists to hold ~`minimumScan` vectors, which keeps recall
    /// up while the index is young and its lists are short.
    var defaultProbes: Int {
        if settings.nprobe > 0 { return min(settings.nprobe, nlist) }
        let forVolume = (Self.minimumScan * nlist + max(1, count) - 1) / max(1, count)
        return min(nlist, max(8, nlist / 64, forVolume))
    }
    /// Vectors a default IVF query scans at least (~0.2 ms of scanning).
    static let minimumScan = 1600
    /// Training sample per IVF list, and k-means iterations.
    static let trainingPointsPerList = 40
    static let kmeansIterations = 10

    func search(_ query: [Float], k: Int, probes: Int? = nil, allowed: [UInt8]?) throws -> [(label: Int64, score: Float)] {
        try query.withUnsafeBufferPointer {
            try faiss.search($0, k: k, nprobe: probes ?? defaultProbes,
                             efSearch: max(settings.efSearch, k), allowed: allowed)
        }
    }

    // MARK: Snapshots

    static let snapshotPrefix = "snapshot-"
    static let snapshotSuffix = ".faiss"

    /// Writes the index as `snapshot-<seq>.faiss` atomically (temp file, fsync, rename,
    /// fsync of the directory), then removes older snapshots.
    func save(in directory: URL, seq: UInt64) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let name = String(format: "%@%020llu%@", Self.snapshotPrefix, seq, Self.snapshotSuffix)
        let final = directory.appendingPathComponent(name)
        let temp = directory.appendingPathComponent(".\(name).tmp")
        // Leftovers of snapshots interrupted by a crash.
        for leftover in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
        where leftover.hasPrefix(".\(Self.snapshotPrefix)") && leftover.hasSuffix(".tmp") {
            try? fm.removeItem(at: directory.appendingPathComponent(leftover))
        }
        try faiss.write(to: temp.path)
        try fsyncPath(temp.path)
        guard rename(temp.path, final.path) == 0 else {
            throw EngramError.storage("cannot rename \(temp.path): \(String(cString: strerror(errno)))")
        }
        try fsyncPath(directory.path)
        for (other, otherSeq) in Self.snapshots(in: directory) where otherSeq != seq {
            try? fm.removeItem(at: other)
        }
    }

    /// Snapshot files in `directory`, newest first.
    static func snapshots(in directory: URL) -> [(URL, UInt64)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> (URL, UInt64)? in
            guard name.hasPrefix(snapshotPrefix), name.hasSuffix(snapshotSuffix) else { return nil }
            let digits = name.dropFirst(snapshotPrefix.count).dropLast(snapshotSuffix.count)
            guard let seq = UInt64(digits) else { return nil }
            return (directory.appendingPathComponent(name), seq)
        }.sorted { $0.1 > $1.1 }
    }

    /// Loads the newest readable snapshot of the right dimension, or nil (with a log line).
    static func loadNewest(in directory: URL, settings: StoreSettings, logger: Logger) -> (VectorIndex, UInt64)? {
        for (url, seq) in snapshots(in: directory) {
            do {
                let faiss = try FaissIndex.read(path: url.path)
                guard faiss.dimension == settings.dimension else {
                    logger.warning("ignoring index snapshot \(url.lastPathComponent): dimension \(faiss.dimension), expected \(settings.dimension)")
                    continue
                }
                return (VectorIndex(faiss: faiss, settings: settings), seq)
            } catch {
                logger.warning("ignoring unreadable index snapshot \(url.lastPathComponent): \(error)")
            }
        }
        return nil
    }

    /// After loading a snapshot: HNSW entries whose label is no longer live are tombstones.
    func countTombstones(catalog: Catalog) throws {
        guard !faiss.supportsRemoval else { tombstones = 0; return }
        tombstones = try faiss.allLabels().reduce(0) { $0 + (catalog.isLive($1) ? 0 : 1) }
    }
}

/// fsync a file or directory by path.
func fsyncPath(_ path: String) throws {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw EngramError.storage("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw EngramError.storage("fsync \(path): \(String(cString: strerror(errno)))") }
}
