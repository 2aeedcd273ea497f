import EngramBase
import Foundation
import Logging

/// The derived ANN structure over the live vectors, and when to train or rebuild it.
///
/// Three kinds: `flat` (no structure: queries scan every code), `ivf` (inverted lists over
/// two-level k-means centroids: queries scan the codes of the nearest lists) and `hnsw`
/// (FAISS's HNSW graph over the full vectors). Every kind scores with the quantized codes
/// and re-reads full vectors only to settle the top-k exactly (see `Search`).
///
/// RocksDB and the vector file stay the source of truth: this structure and the codes can
/// always be rebuilt from them.
///
/// A value: the store's writer changes its own copy, and each published view holds the copy
/// it was published with (IVF lists are copied on write; the HNSW graph is shared and locks
/// itself).
struct VectorIndex: @unchecked Sendable {
    enum Structure {
        case flat
        case ivf(IVFLists)
        case hnsw(HNSWGraph)
    }

    private(set) var structure: Structure
    private let settings: StoreSettings
    /// Entries whose label is no longer live (skipped by scans; dropped by `compact`).
    private(set) var tombstones = 0

    init(structure: Structure, settings: StoreSettings, tombstones: Int = 0) {
        self.structure = structure
        self.settings = settings
        self.tombstones = tombstones
    }

    var kind: IndexKind {
        switch structure {
        case .flat: return .flat
        case .ivf: return .ivf
        case .hnsw: return .hnsw
        }
    }
    /// Entries in the structure (live or not); for `flat`, the live count is the catalog's.
    var entries: Int {
        switch structure {
        case .flat: return 0
        case let .ivf(lists): return lists.entries
        case let .hnsw(graph): return graph.count
        }
    }
    var nlist: Int {
        if case let .ivf(lists) = structure { return lists.nlist }
        return 0
    }
    /// Whether every query scans every live memory.
    var isExact: Bool { kind == .flat }

    /// The IVF list count for `n` vectors: the power of two at or below 4·√n (FAISS's usual
    /// range is 4·√n to 16·√n), with at least 32 vectors a list, between 8 and 65,536.
    static func ivfListCount(for n: Int) -> Int {
        let target = min(4 * Double(n).squareRoot(), Double(n) / 32)
        var lists = 8
        while lists * 2 <= Int(target) && lists < 65_536 { lists *= 2 }
        return lists
    }

    /// The index kind `settings` asks for at `liveCount` memories.
    static func targetKind(_ settings: StoreSettings, liveCount: Int) -> IndexKind {
        switch settings.index {
        case .flat: return .flat
        case .hnsw: return .hnsw
        case .ivf: return liveCount >= settings.ivfMinimumTrainingSize ? .ivf : .flat
        case .auto: return liveCount >= settings.autoIVFThreshold ? .ivf : .flat
        }
    }

    /// Whether the index should be rebuilt at `liveCount` memories: another kind is due
    /// (flat → IVF), an IVF has half the lists the size now calls for (the count grew 4×
    /// since training; `compact` retrains at any size), or the quantizer no longer serves
    /// (see `quantizerServes`).
    func shouldGrow(liveCount: Int, codes: Codes, quantizerTrainedOn: Int) -> Bool {
        let target = Self.targetKind(settings, liveCount: liveCount)
        if target != kind { return true }
        if kind == .ivf && Self.ivfListCount(for: liveCount) >= 2 * nlist { return true }
        // IVF retrains its quantizer, if it must, with its lists.
        return kind != .ivf && liveCount >= Self.quantizerRetrainMinimum
            && !Self.quantizerServes(codes, trainedOn: quantizerTrainedOn)
    }

    /// Whether the quantizer that made `codes` still fits the vectors: it was trained on
    /// data (not the uniform one), and the codes' mean error has not grown by more than
    /// `retrainErrorGrowth` since (vectors outside its trained ranges are clamped, and their
    /// errors grow). A rebuild keeps codes that serve, and makes only the structure anew,
    /// so that it never holds two sets of codes.
    static func quantizerServes(_ codes: Codes, trainedOn: Int) -> Bool {
        trainedOn >= quantizerRetrainMinimum && codes.meanError <= retrainErrorGrowth * codes.trainedMeanError
    }
    static let retrainErrorGrowth = 1.2

    /// Fewest memories for which the quantizer is trained on the data (below it, the uniform
    /// quantizer serves).
    static let quantizerRetrainMinimum = 1000

    /// Training sample per IVF list, and k-means iterations.
    static let trainingPointsPerList = 40
    static let kmeansIterations = 10
    /// Vectors read per chunk while building (with FAISS's block of scores against 1,024
    /// centroids, ~11 MB at 384 dimensions).
    static let buildChunk = 2048

    /// What a build produces: the structure, and the codes of every live memory under a
    /// quantizer trained on them.
    struct Built: Sendable {
        var index: VectorIndex
        var codes: Codes
        var trainedOn: Int
        /// How many live labels the build covered.
        var liveAtBuild: Int
        /// Whether `codes` are the store's own (kept with their quantizer), not new ones.
        var keptCodes: Bool
    }

    /// Codes a build may keep: made by a quantizer trained on `trainedOn` memories.
    struct KeptCodes: Sendable {
        var codes: Codes
        var trainedOn: Int
    }

    /// Builds the structure, and the codes unless `keeping` gives them, for `labels` (live,
    /// ascending) from their full vectors; with `threads`, that count is applied before each
    /// chunk of the work (else the threads set when the store opened serve).
    static func build(settings: StoreSettings, labels: [Int64], labelCapacity: Int, vectors: VectorSource,
                      keeping kept: KeptCodes? = nil, threads: BuildThreads? = nil, logger: Logger) throws -> Built {
        let kind = targetKind(settings, liveCount: labels.count)
        let d = settings.dimension
        let start = DispatchTime.now()
        let nlist = kind == .ivf ? ivfListCount(for: labels.count) : 0
        logger.debug("building the \(kind.rawValue) index\(nlist > 0 ? " (\(nlist) lists)" : "") over \(labels.count) memories")
        try threads?.apply()
        // An evenly spaced sample of labels trains the quantizer and the lists; its vectors
        // are read as training needs them, never held all at once.
        let sampleSize = min(labels.count, max(trainingPointsPerList * nlist, 20_000))
        let stride = max(1, labels.count / max(1, sampleSize))
        let sample = Array(Swift.stride(from: 0, to: labels.count, by: stride).prefix(sampleSize).map { labels[$0] })
        var codes: Codes
        if let kept {
            codes = kept.codes
        } else {
            codes = Codes(quantizer: labels.count >= quantizerRetrainMinimum
                ? try ScalarQuantizer.trained(on: sample, from: vectors)
                : ScalarQuantizer.uniform(dimension: d))
            codes.reserve(labelCapacity)
        }
        let structure: Structure
        switch kind {
        case .ivf:
            structure = .ivf(try IVFLists.train(sample: sample, from: vectors, nlist: nlist, iterations: kmeansIterations,
                                                threads: threads))
        case .hnsw:
            structure = .hnsw(try HNSWGraph(dimension: d, m: settings.hnswM, efSearch: settings.efSearch))
        default:
            structure = .flat
        }
        var index = VectorIndex(structure: structure, settings: settings)
        if kept == nil {
            try index.add(labels, from: vectors, threads: threads, encodingInto: &codes)
            codes.trainedMeanError = codes.meanError
        } else {
            try index.add(labels, from: vectors, threads: threads)
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
        logger.info("built the \(kind.rawValue) index\(nlist > 0 ? " (\(nlist) lists)" : "") over \(labels.count) memories in \(Int(ms)) ms\(kept == nil ? "" : " (codes kept)")")
        let trainedOn = kept?.trainedOn ?? (labels.count >= quantizerRetrainMinimum ? labels.count : 0)
        return Built(index: index, codes: codes, trainedOn: trainedOn, liveAtBuild: labels.count, keptCodes: kept != nil)
    }

    /// Adds `labels` (ascending), reading their vectors from `source` in chunks and encoding
    /// each into `codes` on the way (`threads` applied before each chunk).
    mutating func add(_ labels: [Int64], from source: VectorSource, threads: BuildThreads? = nil,
                      encodingInto codes: inout Codes) throws {
        let d = codes.dimension
        try add(labels, from: source, threads: threads) { part, buffer in
            for (i, label) in part.enumerated() {
                codes.set(label, UnsafeBufferPointer(rebasing: buffer[i * d..<(i + 1) * d]))
            }
        }
    }

    /// Adds `labels` (ascending), reading their vectors from `source` in chunks; `visit`
    /// sees each chunk first (`threads` applied before each chunk).
    mutating func add(_ labels: [Int64], from source: VectorSource, threads: BuildThreads? = nil,
                      visiting visit: (ArraySlice<Int64>, UnsafeBufferPointer<Float>) -> Void = { _, _ in }) throws {
        for start in stride(from: 0, to: labels.count, by: Self.buildChunk) {
            let count = try threads?.apply() ?? 1
            let part = labels[start..<min(start + Self.buildChunk, labels.count)]
            let rows = try source.rows(part)
            try rows.withUnsafeBufferPointer { buffer in
                visit(part, buffer)
                try add(labels: Array(part), vectors: buffer, threads: count)
            }
        }
    }

    /// Adds `labels` with their full vectors (row-major); IVF assignment on up to `threads`
    /// threads.
    mutating func add(labels: [Int64], vectors: UnsafeBufferPointer<Float>, threads: Int = 1) throws {
        guard !labels.isEmpty else { return }
        switch structure {
        case .flat: return
        case var .ivf(lists):
            structure = .flat  // drops the enum's reference, so that the append does not copy
            defer { structure = .ivf(lists) }
            try lists.add(labels: labels, vectors: vectors, threads: threads)
        case let .hnsw(graph): try graph.add(vectors, labels: labels)
        }
    }

    /// Records that `labels` are no longer live (their entries are skipped until `compact`).
    mutating func remove(labels: [Int64]) { remove(count: labels.count) }

    /// Records that `count` entries are no longer live.
    mutating func remove(count: Int) {
        if case .flat = structure { return }
        tombstones += count
    }

    /// Drops dead entries from IVF lists once they are a third of the entries.
    mutating func compactIfWorthwhile(isLive: (Int64) -> Bool) {
        guard case var .ivf(lists) = structure, tombstones > 1024, tombstones * 3 > lists.entries else { return }
        structure = .flat
        lists.compact(keeping: isLive)
        structure = .ivf(lists)
        tombstones = 0
    }

    /// IVF lists to probe for a query: the `nprobe` setting, else 1/128 of the lists (at
    /// least 8), and at least enough lists to hold ~`minimumScan` vectors, which keeps recall
    /// up while the index is young and its lists are short. (On the shared harness's 100k
    /// data, 8 of 1,024 lists give recall@10 0.993, 16 give 0.995: Benchmarks/README.md.)
    var defaultProbes: Int {
        let n = nlist
        guard n > 0 else { return 0 }
        if settings.nprobe > 0 { return min(settings.nprobe, n) }
        let count = max(1, entries)
        let forVolume = (Self.minimumScan * n + count - 1) / count
        return min(n, max(8, n / 128, forVolume))
    }
    /// Vectors a default IVF query scans at least.
    static let minimumScan = 800
}
