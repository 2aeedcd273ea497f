/// The memories of each thread in window order (event time, then creation time, then
/// label), for the context windows of the full-text index (`[text] context_window`).
///
/// A thread is a namespace and the value of the memory's `thread_field` in `meta` (the whole
/// namespace when the field is ""); a memory without that field is in no thread. Writer side
/// only: built from the catalog on the first write that needs it.
struct ThreadIndex {
    struct Key: Hashable {
        var namespace: String
        var value: JSONValue?
    }

    struct Entry: Comparable {
        var time: Double
        var createdAt: Double
        var label: Int64
        static func < (a: Entry, b: Entry) -> Bool {
            (a.time, a.createdAt, a.label) < (b.time, b.createdAt, b.label)
        }
    }

    let field: String
    private var threads: [Key: [Entry]] = [:]

    init(field: String) { self.field = field }

    /// Every live memory of `catalog`, placed in its thread.
    init(field: String, catalog: Catalog) {
        self.field = field
        for label in catalog.liveLabels() {
            guard let key = key(of: label, in: catalog) else { continue }
            threads[key, default: []].append(entry(of: label, in: catalog))
        }
        for key in threads.keys { threads[key]!.sort() }
    }

    /// The thread of a memory with `namespace` and `meta` (nil: in none).
    func key(namespace: String, meta: [String: JSONValue]) -> Key? {
        if field.isEmpty { return Key(namespace: namespace, value: nil) }
        guard let value = meta[field] else { return nil }
        return Key(namespace: namespace, value: value)
    }

    func key(of label: Int64, in catalog: Catalog) -> Key? {
        let l = Int(label)
        return key(namespace: catalog.namespaceNames[Int(catalog.namespaces[l])], meta: catalog.meta[l])
    }

    func entry(of label: Int64, in catalog: Catalog) -> Entry {
        Entry(time: catalog.times[Int(label)], createdAt: catalog.createdAt[Int(label)], label: label)
    }

    mutating func insert(_ entry: Entry, in key: Key) {
        var list = threads.removeValue(forKey: key) ?? []
        if let last = list.last, entry < last {
            list.insert(entry, at: list.firstIndex { entry < $0 }!)
        } else {
            list.append(entry)
        }
        threads[key] = list
    }

    mutating func remove(_ entry: Entry, from key: Key) {
        guard var list = threads.removeValue(forKey: key) else { return }
        if let at = position(of: entry, in: list) { list.remove(at: at) }
        if !list.isEmpty { threads[key] = list }
    }

    /// The memories within `window` places of `entry` on either side, in order, `entry`'s
    /// own label included (just that label if it is not in the thread).
    func window(of entry: Entry, in key: Key, size window: Int) -> [Int64] {
        guard let list = threads[key], let at = position(of: entry, in: list) else { return [entry.label] }
        return list[max(0, at - window)...min(list.count - 1, at + window)].map(\.label)
    }

    private func position(of entry: Entry, in list: [Entry]) -> Int? {
        var lo = 0, hi = list.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if list[mid] < entry { lo = mid + 1 } else { hi = mid }
        }
        return lo < list.count && list[lo] == entry ? lo : nil
    }
}
