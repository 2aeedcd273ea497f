#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A small persistent pool of worker threads for the kernels' parallel loops.
///
/// Decoding one token runs a few hundred short parallel loops; waking threads through
/// Dispatch for each costs more than the work. A job here is split into chunks that the
/// calling thread and the workers claim one at a time from a shared counter, so a worker that
/// the OS has descheduled (on a busy machine) delays nobody: the others take its chunks.
/// Idle workers spin briefly on the counter, then sleep on a condition variable, so an idle
/// engine uses no CPU. One pool per thread count is shared process-wide; `run` calls are
/// serialised by a lock.
final class WorkerPool: @unchecked Sendable {
    let size: Int
    /// generation (32 bits) | chunk count (16 bits) | next chunk to claim (16 bits).
    private let state = Atomic<UInt64>(0)
    private let completed = Atomic<Int>(0)
    private var job: ((Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var sleepers = 0
    private let runLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    /// Spin iterations before an idle worker goes to sleep.
    static let spinLimit = 200_000
    /// Most chunks in one job.
    static let maximumChunks = 0xFFFF

    private init(size: Int) {
        self.size = size
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
        pthread_mutex_init(runLock, nil)
        for _ in 1..<size {
            let box = Unmanaged.passRetained(self)
            var thread = pthread_t()
            pthread_create(&thread, nil, { arg in
                let pool = Unmanaged<WorkerPool>.fromOpaque(arg!).takeRetainedValue()
                pool.workerLoop()
                return nil
            }, box.toOpaque())
            pthread_detach(thread)
        }
    }

    private static let poolsLock = Mutex<[Int: WorkerPool]>([:])

    /// The shared pool with `size` threads (the caller counts as one).
    static func shared(_ size: Int) -> WorkerPool {
        poolsLock.withLock { pools in
            if let p = pools[size] { return p }
            let p = WorkerPool(size: size)
            pools[size] = p
            return p
        }
    }

    /// Runs `body(i)` for every chunk `i` in `0..<chunks`, spread over the calling thread and
    /// the workers, and returns when all chunks are done.
    func run(chunks: Int, _ body: (Int) -> Void) {
        precondition(chunks <= WorkerPool.maximumChunks)
        if size == 1 || chunks <= 1 {
            for i in 0..<chunks { body(i) }
            return
        }
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

    private func workerLoop() {
        // Generation 0 is the initial state: a job posted before this thread started has
        // already moved the counter on and is picked up at once.
        var seen: UInt64 = 0
        while true {
            var spins = 0
            var current = state.load(ordering: .acquiring) >> 32
            while current == seen {
                spins += 1
                if spins < WorkerPool.spinLimit {
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
            seen = current
            drain(current)
        }
    }
}
