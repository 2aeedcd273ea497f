import EngramBase
import Foundation
import Synchronization
import Testing

@Suite("Thread budget")
struct ThreadBudgetTests {
    @Test("ENGRAM_THREADS sets the cores when it is a positive integer; anything else leaves the CPUs available")
    func cores() {
        #expect(ThreadBudget.resolve("3", available: 2) == 3)
        #expect(ThreadBudget.resolve(" 1 ", available: 8) == 1)
        for bad in [nil, "", "0", "-2", "two", "1.5"] { #expect(ThreadBudget.resolve(bad, available: 2) == 2, "\(bad ?? "nil")") }
        #expect(ThreadBudget.resolve(nil, available: 0) == 1)
        #expect(ThreadBudget.cores >= 1)
    }

    @Test("the gate lets one phase in at a time, and a thread inside may enter again")
    func gate() {
        let gate = CoreGate()
        let inside = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let entered = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<200 {
                gate.withCores {
                    let now = inside.add(1, ordering: .acquiringAndReleasing).newValue
                    _ = most.max(now, ordering: .relaxed)
                    // Reentrant: the same thread passes through without waiting for itself.
                    _ = gate.withCores { entered.add(1, ordering: .relaxed) }
                    inside.subtract(1, ordering: .acquiringAndReleasing)
                }
            }
        }
        #expect(most.load(ordering: .relaxed) == 1)
        #expect(entered.load(ordering: .relaxed) == 8 * 200)
    }

    @Test("once the embedder or the engine is in the process, OpenBLAS stays single-threaded for FAISS too")
    func blas() {
        var set: [Int32] = []
        ThreadBudget.configureBLAS(for: .kernels) { set.append($0) }
        ThreadBudget.configureBLAS(for: .faiss(threads: 3)) { set.append($0) }
        #expect(set == [1, 1])
    }
}
