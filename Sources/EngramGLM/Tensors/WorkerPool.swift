#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A small persistent pool of worker threads for the kernels' parallel loops.
///
/// Decoding one token runs a few hundred short parallel loops; waking threads through
/// Dispatch for each costs more than the work. Workers here spin briefly on a generation
/// counter (a new job is picked up in well under a microsecond) and then sleep on a
/// condition variable, so an idle engine uses no CPU. One pool per thread count is shared
/// process-wide; `run` calls are serialised by a lock.
final class WorkerPool: @unchecked Sendable {
    let size: Int
    private let generation = Atomic<UInt64>(0)
    private let remaining = Atomic<Int>(0)
    private var job: ((Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var sleepers = 0
    private let runLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    /// Spin iterations before a worker goes to sleep.
    static let spinLimit = 200_000

    private init(size: Int) {
        self.size = size
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
        pthread_mutex_init(runLock, nil)
        for i in 1..<size {
            let box = Unmanaged.passRetained(WorkerStart(pool: self, index: i))
            var thread = pthread_t()
            pthread_create(&thread, nil, { arg in
                let start = Unmanaged<WorkerStart>.fromOpaque(arg!).takeRetainedValue()
                start.pool.workerLoop(start.index)
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

    /// Runs `body(i)` for `i` in `0..<size`, on the calling thread (i = 0) and the workers,
    /// and returns when all are done.
    func run(_ body: (Int) -> Void) {
        if size == 1 {
            body(0)
            return
        }
        pthread_mutex_lock(runLock)
        defer { pthread_mutex_unlock(runLock) }
        withoutActuallyEscaping(body) { body in
            job = body
            remaining.store(size - 1, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            pthread_mutex_lock(mutex)
            if sleepers > 0 { pthread_cond_broadcast(cond) }
            pthread_mutex_unlock(mutex)
            body(0)
            var spins = 0
            while remaining.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins & 255 == 0 { sched_yield() } // a descheduled worker gets the core back
            }
            job = nil
        }
    }

    private func workerLoop(_ index: Int) {
        // Generation 0 is the pool's initial state: a job posted before this thread started
        // has already moved the counter on and must still be run.
        var seen: UInt64 = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                spins += 1
                if spins < WorkerPool.spinLimit {
                    if spins & 255 == 0 { sched_yield() }
                } else {
                    pthread_mutex_lock(mutex)
                    sleepers += 1
                    while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(cond, mutex) }
                    sleepers -= 1
                    pthread_mutex_unlock(mutex)
                    spins = 0
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            job?(index)
            remaining.subtract(1, ordering: .releasing)
        }
    }
}

private final class WorkerStart {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}


