import EngramBase
import CRocksDB
import Foundation
import Synchronization

/// A RocksDB database opened with a fixed set of column families.
///
/// Thin and synchronous: every `errptr` string from the C API becomes an `EngramError` here
/// and nowhere else. Thread-safe: RocksDB's handles may be used from any thread, and this
/// wrapper's only mutable state (a failed flush) is behind a mutex.
final class RocksDB: @unchecked Sendable {
    private let db: OpaquePointer
    private let options: OpaquePointer
    private let readOptions: OpaquePointer
    private let syncWrite: OpaquePointer
    private let asyncWrite: OpaquePointer
    private let families: [String: OpaquePointer]
    let path: String
    let readOnly: Bool
    /// The error of a flush that failed. RocksDB must not be asked to flush again after one:
    /// the memtable it could not write stays half-switched, and Debian's library (built with
    /// assertions) aborts the process on the next attempt. The write-ahead log keeps the
    /// changes, so the next open replays them.
    private let failedFlush = Mutex<String?>(nil)

    /// Whether a flush failed (later flushes then fail at once, see `failedFlush`).
    var flushHasFailed: Bool { failedFlush.withLock { $0 != nil } }

    /// RocksDB's memtable size (and so its write-ahead log's preallocation).
    static let writeBufferBytes = 16 << 20

    /// The column families stored in the database at `path` (empty if there is none).
    static func existingFamilies(path: String) -> [String] {
        let options = rocksdb_options_create()!
        defer { rocksdb_options_destroy(options) }
        var count = 0
        var err: UnsafeMutablePointer<CChar>?
        guard let names = rocksdb_list_column_families(options, path, &count, &err) else {
            if let err { rocksdb_free(err) }
            return []
        }
        defer { rocksdb_list_column_families_destroy(names, count) }
        return (0..<count).compactMap { names[$0].map { String(cString: $0) } }
    }

    /// Opens (or creates, unless `readOnly`) the database at `path` with `columnFamilies`
    /// (the default family is always present; families already in the database are opened
    /// too, so that a family registered by a module this process does not load is kept).
    init(path: String, columnFamilies: [String], readOnly: Bool) throws {
        self.path = path
        self.readOnly = readOnly
        let base = rocksdb_options_create()!
        rocksdb_options_set_create_if_missing(base, readOnly ? 0 : 1)
        rocksdb_options_set_create_missing_column_families(base, readOnly ? 0 : 1)
        rocksdb_options_set_compression(base, Int32(rocksdb_lz4_compression))
        rocksdb_options_set_max_open_files(base, 256)
        // Records are small (vectors live in their own file): a 16 MiB memtable holds about
        // 100,000 of them, and its write-ahead log preallocates no more than that on disk.
        // Two background jobs match the two cores Engram is tuned for.
        rocksdb_options_set_write_buffer_size(base, Self.writeBufferBytes)
        rocksdb_options_increase_parallelism(base, 2)
        // RocksDB's own info LOG is off (header level): Debian's library is built with
        // assertions, and its logger aborts the process when it writes again after a failed
        // write, which is what a full disk does. Engram reports storage errors itself.
        rocksdb_options_set_info_log_level(base, 5)
        rocksdb_options_set_keep_log_file_num(base, 2)
        // The manifest holds a few hundred bytes of file edits: no 4 MiB preallocated for it.
        rocksdb_options_set_manifest_preallocation_size(base, 64 << 10)
        // Point reads (an id's record, state keys) skip the files that cannot hold the key.
        let table = rocksdb_block_based_options_create()
        rocksdb_block_based_options_set_filter_policy(table, rocksdb_filterpolicy_create_bloom_full(10))
        rocksdb_options_set_block_based_table_factory(base, table)
        rocksdb_block_based_options_destroy(table)
        // The log of the last session's few writes stays a log at open instead of becoming a
        // tiny table file per family on every command (which piles up level-0 files, each
        // opened by the next reads); closing flushes a log that has grown (see `MemoryStore`).
        // Not in the C API of every RocksDB this builds with: set through an options string.
        let tuned = rocksdb_options_create()!
        var optionError: UnsafeMutablePointer<CChar>?
        rocksdb_get_options_from_string(base, "avoid_flush_during_recovery=true", tuned, &optionError)
        rocksdb_options_destroy(base)
        if let optionError {
            let message = String(cString: optionError)
            rocksdb_free(optionError)
            rocksdb_options_destroy(tuned)
            throw EngramError.storage("RocksDB options: \(message)")
        }
        let options = tuned
        self.options = options

        // Read-only, a registered family that was never created is simply empty.
        let existing = Self.existingFamilies(path: path)
        var names = ["default"]
        for name in (readOnly ? [] : columnFamilies) + existing where !names.contains(name) { names.append(name) }
        var cNames = names.map { strdup($0) }
        defer { cNames.forEach { free($0) } }
        var cfOptions: [OpaquePointer?] = names.map { _ in options }
        var handles = [OpaquePointer?](repeating: nil, count: names.count)
        var err: UnsafeMutablePointer<CChar>?
        let opened: OpaquePointer? = cNames.withUnsafeMutableBufferPointer { namePtr in
            cfOptions.withUnsafeMutableBufferPointer { optPtr in
                handles.withUnsafeMutableBufferPointer { handlePtr in
                    namePtr.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: names.count) { constNames in
                        if readOnly {
                            return rocksdb_open_for_read_only_column_families(
                                options, path, Int32(names.count), constNames, optPtr.baseAddress,
                                handlePtr.baseAddress, 0, &err)
                        }
                        return rocksdb_open_column_families(
                            options, path, Int32(names.count), constNames, optPtr.baseAddress,
                            handlePtr.baseAddress, &err)
                    }
                }
            }
        }
        if let err {
            let message = String(cString: err)
            rocksdb_free(err)
            rocksdb_options_destroy(options)
            throw EngramError.fromRocksDB(message, path: path)
        }
        guard let opened else {
            rocksdb_options_destroy(options)
            throw EngramError.storage("could not open RocksDB at \(path)")
        }
        self.db = opened
        var families: [String: OpaquePointer] = [:]
        for (name, handle) in zip(names, handles) { families[name] = handle }
        self.families = families
        readOptions = rocksdb_readoptions_create()
        syncWrite = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(syncWrite, 1)
        asyncWrite = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(asyncWrite, 0)
    }

    deinit {
        for handle in families.values { rocksdb_column_family_handle_destroy(handle) }
        rocksdb_close(db)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(syncWrite)
        rocksdb_writeoptions_destroy(asyncWrite)
        rocksdb_options_destroy(options)
    }

    /// Whether `name` was opened (registered, or present on disk).
    func hasFamily(_ name: String) -> Bool { families[name] != nil }

    private func family(_ name: String) -> OpaquePointer {
        guard let handle = families[name] else {
            // Families are registered when the database opens; using another is a bug.
            preconditionFailure("column family \(name) was not registered when opening")
        }
        return handle
    }

    /// The value stored under `key` in `family`, or nil.
    func get(_ family: String, _ key: [UInt8]) throws -> [UInt8]? {
        try get(family, key, options: readOptions)
    }

    /// The value under `key` in `family` as of `snapshot` (nil: the latest).
    fileprivate func get(_ family: String, _ key: [UInt8], options: OpaquePointer) throws -> [UInt8]? {
        if readOnly && !hasFamily(family) { return nil }
        var err: UnsafeMutablePointer<CChar>?
        var length = 0
        let value = key.withUnsafeBufferPointer { k in
            k.withMemoryRebound(to: CChar.self) { kc in
                rocksdb_get_cf(db, options, self.family(family), kc.baseAddress, kc.count, &length, &err)
            }
        }
        try check(err)
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return value.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// Reads `keys` of `family` in one batched lookup (faster than one `get` each): calls
    /// `body(i, value)` for each key, with nil for a key that is absent. `keys` must be
    /// sorted (bytewise).
    func multiGet(_ family: String, _ keys: [[UInt8]], _ body: (Int, UnsafeRawBufferPointer?) throws -> Void) throws {
        guard !keys.isEmpty else { return }
        if readOnly && !hasFamily(family) {
            for i in keys.indices { try body(i, nil) }
            return
        }
        let n = keys.count
        let storage = UnsafeMutablePointer<UnsafeMutablePointer<CChar>>.allocate(capacity: n)
        var sizes = [Int](repeating: 0, count: n)
        for (i, key) in keys.enumerated() {
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, key.count))
            key.withUnsafeBufferPointer { k in
                k.withMemoryRebound(to: CChar.self) { copy.update(from: $0.baseAddress!, count: key.count) }
            }
            storage[i] = copy
            sizes[i] = key.count
        }
        defer {
            for i in 0..<n { storage[i].deallocate() }
            storage.deallocate()
        }
        var values = [OpaquePointer?](repeating: nil, count: n)
        var errors = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
        storage.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: n) { keyList in
            rocksdb_batched_multi_get_cf(db, readOptions, self.family(family), n, keyList, sizes, &values, &errors, true)
        }
        defer { for value in values { if let value { rocksdb_pinnableslice_destroy(value) } } }
        if let first = errors.firstIndex(where: { $0 != nil }) {
            let message = String(cString: errors[first]!)
            for case let e? in errors { rocksdb_free(e) }
            throw EngramError.fromRocksDB(message, path: path)
        }
        for i in 0..<n {
            guard let value = values[i] else {
                try body(i, nil)
                continue
            }
            var length = 0
            let data = rocksdb_pinnableslice_value(value, &length)
            try body(i, UnsafeRawBufferPointer(start: data, count: length))
        }
    }

    /// A consistent point-in-time view of every family, for readers.
    func snapshot() -> ReadSnapshot { ReadSnapshot(db: self, handle: rocksdb_create_snapshot(db)) }

    fileprivate func release(_ snapshot: OpaquePointer) { rocksdb_release_snapshot(db, snapshot) }

    /// Applies `batch` atomically. With `sync`, returns only after the write-ahead log is
    /// on stable storage: this is the point at which Engram acknowledges a write.
    func write(_ batch: WriteBatch, sync: Bool) throws {
        guard !readOnly else { throw EngramError.readOnly }
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_write(db, sync ? syncWrite : asyncWrite, batch.handle, &err)
        try check(err)
    }

    func makeBatch() -> WriteBatch { WriteBatch(db: self) }

    /// Visits every key/value of `family` whose key starts with `prefix`, in key order,
    /// starting at `start` (default: the prefix). `body` returns false to stop early.
    func scan(_ family: String, prefix: [UInt8] = [], from start: [UInt8]? = nil,
              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        try scan(family, prefix: prefix, from: start, snapshot: nil, body)
    }

    /// `scan` as of `snapshot` (nil: the latest state).
    fileprivate func scan(_ family: String, prefix: [UInt8], from start: [UInt8]?, snapshot: OpaquePointer?,
                          _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        if readOnly && !hasFamily(family) { return }
        let options = rocksdb_readoptions_create()!
        defer { rocksdb_readoptions_destroy(options) }
        if let snapshot { rocksdb_readoptions_set_snapshot(options, snapshot) }
        // The first key past the prefix bounds the iterator: it stops there instead of
        // reading on into the next keys (or the deletions before them).
        var upper = prefix
        while let last = upper.last, last == 0xFF { upper.removeLast() }
        if !upper.isEmpty { upper[upper.count - 1] += 1 }
        // RocksDB keeps a pointer to the bound (not a copy): it lives until the iterator is gone.
        let bound = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(1, upper.count))
        defer { bound.deallocate() }
        for (i, byte) in upper.enumerated() { bound[i] = CChar(bitPattern: byte) }
        if !upper.isEmpty { rocksdb_readoptions_set_iterate_upper_bound(options, bound.baseAddress, upper.count) }
        let iterator = rocksdb_create_iterator_cf(db, options, self.family(family))!
        defer { rocksdb_iter_destroy(iterator) }
        let seekKey = start ?? prefix
        seekKey.withUnsafeBufferPointer { k in
            k.withMemoryRebound(to: CChar.self) { rocksdb_iter_seek(iterator, $0.baseAddress, $0.count) }
        }
        while rocksdb_iter_valid(iterator) != 0 {
            var keyLength = 0, valueLength = 0
            let keyPtr = rocksdb_iter_key(iterator, &keyLength)!
            let valuePtr = rocksdb_iter_value(iterator, &valueLength)
            let key = UnsafeRawBufferPointer(start: keyPtr, count: keyLength)
            if !prefix.isEmpty {
                if keyLength < prefix.count || !zip(key, prefix).allSatisfy({ $0 == $1 }) { break }
            }
            let value = UnsafeRawBufferPointer(start: valuePtr, count: valueLength)
            if try !body(key, value) { break }
            rocksdb_iter_next(iterator)
        }
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_iter_get_error(iterator, &err)
        try check(err)
    }

    /// Bytes in the memtables of every column family (what an open would replay from the
    /// write-ahead log).
    var memtableBytes: Int {
        families.values.reduce(0) { total, handle in
            guard let value = rocksdb_property_value_cf(db, handle, "rocksdb.cur-size-all-mem-tables") else { return total }
            defer { rocksdb_free(value) }
            return total + (Int(String(cString: value)) ?? 0)
        }
    }

    /// Bytes of `family` in table files and memtables (0 for a family that is not open).
    func familyBytes(_ family: String) -> Int64 {
        guard let handle = families[family] else { return 0 }
        var total: Int64 = 0
        for property in ["rocksdb.total-sst-files-size", "rocksdb.cur-size-all-mem-tables"] {
            guard let value = rocksdb_property_value_cf(db, handle, property) else { continue }
            defer { rocksdb_free(value) }
            total += Int64(String(cString: value)) ?? 0
        }
        return total
    }

    /// Stops RocksDB's flushes and compactions, waiting for those under way: from then on its
    /// files change only by writes (as a crashed process leaves them).
    func cancelBackgroundWork() { rocksdb_cancel_all_background_work(db, 1) }

    /// Flushes every column family's memtable to SST files, so that the next open has no
    /// write-ahead log to replay.
    func flush() throws {
        guard !readOnly else { return }
        if let earlier = failedFlush.withLock({ $0 }) {
            throw EngramError.storage("RocksDB at \(path) is not flushed again after a failed flush (\(earlier)); its log keeps the changes")
        }
        let options = rocksdb_flushoptions_create()
        defer { rocksdb_flushoptions_destroy(options) }
        rocksdb_flushoptions_set_wait(options, 1)
        for handle in families.values {
            var err: UnsafeMutablePointer<CChar>?
            rocksdb_flush_cf(db, options, handle, &err)
            if let err {
                let message = String(cString: err)
                failedFlush.withLock { $0 = message }
                rocksdb_free(err)
                throw EngramError.fromRocksDB(message, path: path)
            }
        }
    }

    fileprivate func familyHandle(_ name: String) -> OpaquePointer { family(name) }

    private func check(_ err: UnsafeMutablePointer<CChar>?) throws {
        guard let err else { return }
        let message = String(cString: err)
        rocksdb_free(err)
        throw EngramError.fromRocksDB(message, path: path)
    }
}

/// A point-in-time view of a `RocksDB` for readers: every read through it sees the state of
/// the moment it was taken, whatever is written meanwhile. Released when the last holder
/// lets go (and keeps the database open until then).
final class ReadSnapshot: Sendable {
    let db: RocksDB
    // The C handles are immutable and used read-only, from any thread (RocksDB allows it).
    nonisolated(unsafe) private let handle: OpaquePointer
    nonisolated(unsafe) private let options: OpaquePointer

    fileprivate init(db: RocksDB, handle: OpaquePointer) {
        self.db = db
        self.handle = handle
        options = rocksdb_readoptions_create()
        rocksdb_readoptions_set_snapshot(options, handle)
    }

    deinit {
        rocksdb_readoptions_destroy(options)
        db.release(handle)
    }

    /// The value under `key` in `family` at the snapshot, or nil.
    func get(_ family: String, _ key: [UInt8]) throws -> [UInt8]? { try db.get(family, key, options: options) }

    /// `RocksDB.scan` at the snapshot.
    func scan(_ family: String, prefix: [UInt8] = [], from start: [UInt8]? = nil,
              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        try db.scan(family, prefix: prefix, from: start, snapshot: handle, body)
    }
}

/// A set of puts and deletes applied atomically by `RocksDB.write`.
final class WriteBatch {
    let handle: OpaquePointer
    private let db: RocksDB

    fileprivate init(db: RocksDB) {
        self.db = db
        handle = rocksdb_writebatch_create()
    }

    deinit { rocksdb_writebatch_destroy(handle) }

    var count: Int { Int(rocksdb_writebatch_count(handle)) }

    func put(_ family: String, _ key: [UInt8], _ value: [UInt8]) {
        let cf = db.familyHandle(family)
        key.withUnsafeBufferPointer { k in
            value.withUnsafeBufferPointer { v in
                k.withMemoryRebound(to: CChar.self) { kc in
                    v.withMemoryRebound(to: CChar.self) { vc in
                        rocksdb_writebatch_put_cf(handle, cf, kc.baseAddress, kc.count, vc.baseAddress, vc.count)
                    }
                }
            }
        }
    }

    func delete(_ family: String, _ key: [UInt8]) {
        let cf = db.familyHandle(family)
        key.withUnsafeBufferPointer { k in
            k.withMemoryRebound(to: CChar.self) { rocksdb_writebatch_delete_cf(handle, cf, $0.baseAddress, $0.count) }
        }
    }

    /// Deletes every key in `[start, end)`.
    func deleteRange(_ family: String, from start: [UInt8], to end: [UInt8]) {
        let cf = db.familyHandle(family)
        start.withUnsafeBufferPointer { s in
            end.withUnsafeBufferPointer { e in
                s.withMemoryRebound(to: CChar.self) { sc in
                    e.withMemoryRebound(to: CChar.self) { ec in
                        rocksdb_writebatch_delete_range_cf(handle, cf, sc.baseAddress, sc.count, ec.baseAddress, ec.count)
                    }
                }
            }
        }
    }
}
