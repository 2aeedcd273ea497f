#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EngramBase
import Foundation
import Synchronization

/// A small pool of worker threads for the kernels' parallel loops, owned by one `GLMContext`.
///
/// Decoding one token runs a few hundred short parallel loops; waking threads through
/// Dispatch for each costs more than the work. A job here is split into chunks that the
/// calling thread and the workers claim one at a time from a shared counter, so a worker that
/// the OS has descheduled (on a busy machine) delays nobody: the others take its chunks.
/// Idle workers spin briefly on the counter, then sleep on a condition variable, so an idle
/// engine uses no CPU.
///
/// Lifetime: `init` starts `size − 1` threads (the caller of `run` is the other one) and
/// returns once they all run; when the pool is released they are stopped and joined, so no
/// thread outlives its pool.
/// `run` calls are serialised by a lock.
final class WorkerPool: @unchecked Sendable {
    let size: Int
    private let shared: Shared
    private var threads: [pthread_t] = []

    /// Starts `size − 1` worker threads (`size` ≥ 1, bounded by the caller:
    /// `GLMThreading.maximumThreadCount`).
    /// - Throws: `EngramError` `.resourceExhausted` (`threadStartFailed`) when the system
    ///   refuses a thread; the threads already started are stopped first.
    init(size: Int) throws {
        self.size = size
        shared = Shared()
        for started in 1..<max(1, size) {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(shared)
            let rc = pthread_create(&thread, nil, { arg in
                let shared = Unmanaged<Shared>.fromOpaque(arg!).takeRetainedValue()
                Thread.current.name = WorkerPool.threadName
                shared.ready.add(1, ordering: .releasing)
                shared.workerLoop()
                return nil
            }, box.toOpaque())
            guard rc == 0 else {
                box.release()
                stop()
                throw EngramError(.resourceExhausted, """
                    cannot start kernel thread \(started + 1) of \(size): \(String(cString: strerror(rc))); use fewer threads
                    """, reason: .threadStartFailed)
            }
            threads.append(thread)
        }
        while shared.ready.load(ordering: .acquiring) < threads.count { sched_yield() }
    }

    deinit { stop() }

    /// Tells the workers to exit and waits until they have.
    private func stop() {
        shared.stop()
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    /// Most chunks in one job.
    static let maximumChunks = Shared.maximumChunks
    /// The name of the worker threads (as `ps -L` and `/proc/PID/task/*/comm` show it).
    static let threadName = "glm-kernel"

    /// Runs `body(i)` for every chunk `i` in `0..<chunks` (at most `maximumChunks`), spread
    /// over the calling thread and the workers, and returns when all chunks are done. A
    /// parallel job goes through the thread budget's gate (one parallel phase of the engine or
    /// the embedder at a time).
    func run(chunks: Int, _ body: (Int) -> Void) {
        precondition(chunks <= WorkerPool.maximumChunks) // parallelChunks never asks for more
        if size == 1 || chunks <= 1 {
            for i in 0..<chunks { body(i) }
            return
        }
        ThreadBudget.gate.withCores { shared.run(chunks: chunks, body) }
    }

    /// The state the workers share with the pool. The workers hold it (not the pool), so
    /// releasing the pool runs its `deinit`, which stops them.
    private final class Shared: @unchecked Sendable {
        /// generation (32 bits) | chunk count (16 bits) | next chunk to claim (16 bits).
        private let state = Atomic<UInt64>(0)
        private let completed = Atomic<Int>(0)
        private let stopping = Atomic<Bool>(false)
        /// Workers that have started (and named themselves).
        let ready = Atomic<Int>(0)
        private var job: ((Int) -> Void)?
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        private var sleepers = 0
        private let runLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

        /// Spin iterations before an idle worker goes to sleep.
        static let spinLimit = 200_000
        /// Most chunks in one job (16 bits of `state`).
        static let maximumChunks = 0xFFFF

        init() {
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(cond, nil)
            pthread_mutex_init(runLock, nil)
        }

        deinit {
            pthread_mutex_destroy(mutex)
            pthread_cond_destroy(cond)
            pthread_mutex_destroy(runLock)
            mutex.deallocate()
            cond.deallocate()
            runLock.deallocate()
        }

        /// Starts a new generation without chunks: every worker wakes, sees `stopping` and exits.
        func stop() {
            stopping.store(true, ordering: .releasing)
            let generation = (state.load(ordering: .relaxed) >> 32) &+ 1
            state.store(generation << 32, ordering: .releasing)
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(cond)
            pthread_mutex_unlock(mutex)
        }

        func run(chunks: Int, _ body: (Int) -> Void) {
            pthread_mutex_lock(runLock)
            defer { pthread_mutex_unlock(runLock) }
            withoutActuallyEscaping(body) { body in
                job = body
                completed.store(0, ordering: .relaxed)
                let generation = (state.load(ordering: .relaxed) >> 32) &+ 1
                state.store(generation << 32 | UInt64(chunks) << 16, ordering: .releasing)
                pthread_mutex_lock(mutex)
                if sleepers > 0 { pthread_cond_broadcast(cond) }
                pthread_mutex_unlock(mutex)
                drain(generation)
                var spins = 0
                while completed.load(ordering: .acquiring) < chunks {
                    spins += 1
                    if spins & 255 == 0 { sched_yield() }
                }
                job = nil
            }
        }

        /// Claims and runs chunks of job `generation` until none are left.
        private func drain(_ generation: UInt64) {
            while true {
                let v = state.load(ordering: .acquiring)
                guard v >> 32 == generation else { return }
                let n = (v >> 16) & 0xFFFF, next = v & 0xFFFF
                guard next < n else { return }
                if state.compareExchange(expected: v, desired: v + 1, ordering: .acquiringAndReleasing).exchanged {
                    // The caller waits for this chunk before it changes `job`.
                    job!(Int(next))
                    completed.add(1, ordering: .releasing)
                }
            }
        }

        func workerLoop() {
            // Generation 0 is the initial state: a job posted before this thread started has
            // already moved the counter on and is picked up at once.
            var seen: UInt64 = 0
            while true {
                var spins = 0
                var current = state.load(ordering: .acquiring) >> 32
                while current == seen {
                    spins += 1
                    if spins < Shared.spinLimit {
                        if spins & 255 == 0 { sched_yield() }
                    } else {
                        pthread_mutex_lock(mutex)
                        sleepers += 1
                        while state.load(ordering: .acquiring) >> 32 == seen { pthread_cond_wait(cond, mutex) }
                        sleepers -= 1
                        pthread_mutex_unlock(mutex)
                        spins = 0
                    }
                    current = state.load(ordering: .acquiring) >> 32
                }
                if stopping.load(ordering: .acquiring) { return }
                seen = current
                drain(current)
            }
        }
    }
}
