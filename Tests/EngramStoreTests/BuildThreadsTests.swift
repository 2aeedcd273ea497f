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
        // Items long enough (1 ms) that the helper, started with the first, finds some left.
        try BuildThreads(2).forEachItem(40) { item in
            usleep(1000)
            log.record(item)
        }
        #expect(log.items.sorted() == Array(0..<40))
        #expect(log.threads.count == 2)
    }

    @Test("a count raised while the items run adds a helper at the next item")
    func raisedCount() throws {
        let log = Log()
        let threads = BuildThreads(1)
        try threads.forEachItem(40) { item in
            if item == 0 { threads.set(2) }
            usleep(1000)
            log.record(item)
        }
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
}
