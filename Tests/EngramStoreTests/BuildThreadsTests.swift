import EngramBase
import EngramStore
import Foundation
import Synchronization
import Testing

@Suite("Build threads")
struct BuildThreadsTests {
    /// What `forEachItem` did: the items run, each with the thread that ran it.
    final class Log: Sendable {
        let runs = Mutex<[(item: Int, thread: UInt64)]>([])
        func record(_ item: Int) { runs.withLock { $0.append((item, Self.thread())) } }
        var items: [Int] { runs.withLock { $0.map(\.item) } }
        var threads: Set<UInt64> { runs.withLock { Set($0.map(\.thread)) } }
        static func thread() -> UInt64 { UInt64(pthread_self()) }

        /// For the helper tests: the calling thread's item that runs `waitForHelper` waits
        /// (30 s at most) until an item has run on another thread, which calls `ran`, so that
        /// the helper's share does not depend on timing.
        private let helperRan = DispatchSemaphore(value: 0)
        private let caller = Log.thread()
        private let waited = Mutex<DispatchTimeoutResult?>(nil)
        func waitForHelper() {
            let result = helperRan.wait(timeout: .now() + 30)
            waited.withLock { $0 = result }
        }
        func ran() { if Self.thread() != caller { helperRan.signal() } }
        var helperWasAwaited: Bool { waited.withLock { $0 } == .success }
    }

    @Test("every item runs once; one thread runs them all in order on the calling thread")
    func oneThread() throws {
        let log = Log()
        try BuildThreads(1).forEachItem(20) { log.record($0) }
        #expect(log.items == Array(0..<20))
        #expect(log.threads == [Log.thread()])
    }

    @Test("with two threads every item runs once and a helper takes some of them")
    func twoThreads() throws {
        let log = Log()
        // The helper is started before the calling thread runs item 0.
        try BuildThreads(2).forEachItem(40) { item in
            if item == 0 { log.waitForHelper() } else { log.ran() }
            log.record(item)
        }
        #expect(log.helperWasAwaited)
        #expect(log.items.sorted() == Array(0..<40))
        #expect(log.threads.count == 2)
    }

    @Test("a count raised while the items run adds a helper at the next item")
    func raisedCount() throws {
        let log = Log()
        let threads = BuildThreads(1)
        try threads.forEachItem(40) { item in
            switch item {
            case 0: threads.set(2)  // a helper starts when the calling thread takes item 1
            case 1: log.waitForHelper()
            default: log.ran()
            }
            log.record(item)
        }
        #expect(log.helperWasAwaited)
        #expect(log.items.sorted() == Array(0..<40))
        #expect(log.threads.count == 2)
    }

    @Test("the first error is rethrown and the items not started are skipped")
    func firstError() throws {
        let log = Log()
        #expect(throws: EngramError(.internal, "item 3")) {
            try BuildThreads(1).forEachItem(10) { item in
                if item == 3 { throw EngramError(.internal, "item 3") }
                log.record(item)
            }
        }
        #expect(log.items == [0, 1, 2])
    }

    @Test("after stop() the items not started are skipped and the build is cancelled")
    func stopped() throws {
        let log = Log()
        let threads = BuildThreads(1)
        #expect(throws: EngramError(.cancelled, "the index build was stopped")) {
            try threads.forEachItem(10) { item in
                if item == 3 { threads.stop() }
                log.record(item)
            }
        }
        #expect(log.items == [0, 1, 2, 3])
    }
}
