#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels
import Foundation
import Synchronization

/// The one owner of the threads of Engram's CPU-bound work: the embedder, the GLM engine and
/// FAISS size their parallelism here, so that together they never run more busy threads than
/// the process has cores.
///
/// - `cores`: `$ENGRAM_THREADS` when set (a positive integer), else the CPUs this process may
///   run on (its affinity mask, which containers narrow), read once.
/// - The embedder and the engine each split their work over `cores` threads, and run their
///   parallel phases (an encoder pass; one parallel loop of a forward step) through `gate`:
///   one phase at a time holds every core, so an embedding in one task and a generation in
///   another take turns phase by phase instead of running twice the threads on the same cores.
/// - FAISS's searches use `cores` OpenMP threads; its background index builds use one core
///   less, at a lowered priority (see `MemoryStore`), so that they yield to the rest.
/// - OpenBLAS: the embedder and the engine call it from their own worker threads, so it must
///   stay single-threaded inside each call once either is in the process; until then FAISS's
///   products may use the threads the store asks for (one core less than its own). OpenBLAS's
///   count is process-wide: `configureBLAS` applies that rule whatever the order in which the
///   three start.
public enum ThreadBudget {
    /// The variable that sets the core budget.
    public static let variable = "ENGRAM_THREADS"

    /// The cores Engram's compute may use.
    public static let cores: Int = resolve(ProcessInfo.processInfo.environment[variable], available: Int(ek_available_cpus()))

    /// `value` of `$ENGRAM_THREADS` when it is a positive integer, else `available`.
    public static func resolve(_ value: String?, available: Int) -> Int {
        if let value, let n = Int(value.trimmingCharacters(in: .whitespaces)), n >= 1 { return n }
        return max(1, available)
    }

    /// Who uses OpenBLAS.
    public enum BLASUser: Sendable {
        /// The embedder or the engine: many threads of their own, each calling BLAS.
        case kernels
        /// FAISS's matrix products (training, IVF assignment), called from one thread, which
        /// may use `threads` BLAS threads while no kernels are in the process.
        case faiss(threads: Int)
    }

    private static let blasKernelsPresent = Mutex(false)

    /// Sets OpenBLAS's thread count for `user` by the rule above: 1 from the moment the
    /// embedder or the engine is in the process, else what FAISS asks for (at least 1).
    /// `setThreads` is OpenBLAS's `openblas_set_num_threads` as the caller links it.
    public static func configureBLAS(for user: BLASUser, setThreads: (Int32) -> Void) {
        blasKernelsPresent.withLock { kernels in
            switch user {
            case .kernels:
                kernels = true
                setThreads(1)
            case let .faiss(threads):
                setThreads(kernels ? 1 : Int32(max(1, threads)))
            }
        }
    }

    /// The gate of the parallel phases.
    public static let gate = CoreGate()
}

/// Lets one parallel phase at a time use the cores, first come first served (a ticket
/// lock). Reentrant: a thread already inside passes through (a phase may call another).
/// Uncontended, a phase costs one mutex lock on entry and one on exit.
public final class CoreGate: @unchecked Sendable {
    // Thread-safe: every field below is read and written only with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let turn = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var nextTicket: UInt64 = 0
    private var serving: UInt64 = 0
    private var owner: pthread_t?
    private var depth = 0

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(turn, nil)
    }

    deinit {
        pthread_cond_destroy(turn)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        turn.deallocate()
    }

    /// Runs `body` once every phase that asked before it has finished.
    public func withCores<T>(_ body: () throws -> T) rethrows -> T {
        let me = pthread_self()
        pthread_mutex_lock(mutex)
        if let owner, pthread_equal(owner, me) != 0 {
            depth += 1
        } else {
            let ticket = nextTicket
            nextTicket += 1
            while serving != ticket { pthread_cond_wait(turn, mutex) }
            owner = me
            depth = 1
        }
        pthread_mutex_unlock(mutex)
        defer { release() }
        return try body()
    }

    private func release() {
        pthread_mutex_lock(mutex)
        depth -= 1
        if depth == 0 {
            owner = nil
            serving += 1
            if nextTicket > serving { pthread_cond_broadcast(turn) }
        }
        pthread_mutex_unlock(mutex)
    }
}
