/// The merger's copy of the newest postings blocks, so that merging new memories (fresh
/// labels, one label block after the other) edits their blocks without reading them back.
///
/// A block is *held* from the moment a write first touches it while nothing of it can be on
/// disk yet (its first label at or beyond the labels issued when the store was opened): from
/// then on every posting of that block is here, and a term absent here has no postings in
/// it. Only the newest `heldBlocks` blocks are held; older ones are read as usual. Changed
/// only after a merge's batch is committed (`commit`). Used on the text merge queue only.
struct PostingCache {
    struct BlockKey: Hashable, Comparable {
        var term: String
        var block: UInt32
        static func < (a: BlockKey, b: BlockKey) -> Bool { (a.term, a.block) < (b.term, b.block) }
    }

    /// Blocks held at most (the one being filled and the one before).
    static let heldBlocks = 2

    /// The first block that had no postings on disk when the store was opened.
    private var firstFreshBlock: UInt32
    /// The held blocks, oldest first, and their postings by term.
    private var held: [UInt32] = []
    private var lists: [BlockKey: [TextIndex.Posting]] = [:]

    init(labelsIssued: Int64) {
        firstFreshBlock = UInt32(truncatingIfNeeded: (labelsIssued + Int64(TextIndex.blockSize) - 1) >> TextIndex.blockShift)
    }

    /// The postings of `key` if its block is held ([] when it holds none of the term), else nil.
    func postings(_ key: BlockKey) -> [TextIndex.Posting]? {
        guard held.contains(key.block) else { return nil }
        return lists[key] ?? []
    }

    /// Whether `block` is held, or can start being held (nothing of it on disk).
    func canHold(_ block: UInt32) -> Bool { held.contains(block) || block >= firstFreshBlock }

    /// Records the committed postings of a write's blocks; starts holding fresh blocks and
    /// lets the oldest go.
    mutating func commit(_ written: [BlockKey: [TextIndex.Posting]]) {
        for (key, list) in written {
            if !held.contains(key.block) {
                guard key.block >= firstFreshBlock else { continue }
                hold(key.block)
            }
            lists[key] = list.isEmpty ? nil : list
        }
    }

    /// Forgets everything (after a failed write, or when the index is rebuilt).
    mutating func clear(labelsIssued: Int64) {
        self = PostingCache(labelsIssued: labelsIssued)
    }

    private mutating func hold(_ block: UInt32) {
        held.append(block)
        held.sort()
        // Once a block is let go, it is read from disk again, and never held anew.
        firstFreshBlock = max(firstFreshBlock, block + 1)
        while held.count > Self.heldBlocks {
            let old = held.removeFirst()
            lists = lists.filter { $0.key.block != old }
        }
    }
}
