import EngramBase
import EngramGLM
import Foundation
import Testing

/// Kernel thread counts are bounded, and a context's threads end with it.
///
/// The thread counts read `/proc/self/task`; they assume no other test starts or ends a
/// context meanwhile (the suites run with `--no-parallel`).
@Suite(.serialized)
struct ThreadingTests {
    /// Live threads of this process named like the kernels' workers.
    static func kernelThreads() throws -> Int {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        return tasks.filter { tid in
            let comm = (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8)) ?? ""
            return comm.trimmingCharacters(in: .whitespacesAndNewlines) == "glm-kernel"
        }.count
    }

    /// `kernelThreads()` once it equals `expected`, or after 2 s: a joined thread can stay in
    /// `/proc/self/task` for a moment (its `pthread_join` returns when the kernel clears its
    /// thread id, before it removes the task), so a count that should have fallen is read
    /// again until it has, and a thread that really outlives its pool still fails.
    static func kernelThreads(settlingAt expected: Int) throws -> Int {
        let deadline = Date().addingTimeInterval(2)
        var count = try kernelThreads()
        while count != expected && Date() < deadline {
            usleep(1000)
            count = try kernelThreads()
        }
        return count
    }

    static func tinyModel() throws -> GLMModel { try GLMModel(path: TestFiles.reference("tiny-llama-q4_0.gguf")) }

    @Test("thread counts outside 1...maximumThreadCount are refused before any thread starts")
    func threadCountsOutOfRange() throws {
        let model = try Self.tinyModel()
        let limit = GLMThreading.maximumThreadCount
        #expect(limit == GLMThreading.maximumThreadsPerCore * ProcessInfo.processInfo.activeProcessorCount)
        let before = try Self.kernelThreads()
        for bad in [0, -1, limit + 1, 100_000, Int.max, Int.min] {
            let error = expectError(.invalidArgument, .invalidThreadCount, "\(bad)") { try GLMContext(model: model, threads: bad) }
            #expect(error?.message.contains("use 1...\(limit)") == true)
            expectError(.invalidArgument, .invalidThreadCount, "\(bad)") { try GLMGenerator(model: model, threads: bad) }
        }
        let ctx = try GLMContext(model: model, threads: 2)
        expectError(.invalidArgument, .invalidThreadCount) { try ctx.setThreads(100_000) }
        #expect(ctx.threads == 2)
        #expect(try Self.kernelThreads() == before + 1)
        expectError(.invalidArgument, .invalidContextSize) { try GLMContext(model: model, contextSize: 0) }
    }

    @Test("a context starts threads − 1 workers and joins them when released; setThreads replaces them")
    func threadsEndWithTheContext() throws {
        let model = try Self.tinyModel()
        let before = try Self.kernelThreads()
        for size in 1...GLMThreading.maximumThreadCount {
            do {
                let ctx = try GLMContext(model: model, threads: size)
                _ = try ctx.evaluate([1, 2, 3])
                _ = try ctx.evaluate([4])
                #expect(ctx.threads == size)
                #expect(try Self.kernelThreads() == before + size - 1, "\(size) threads")
            }
            #expect(try Self.kernelThreads(settlingAt: before) == before, "after releasing a context of \(size) threads")
        }
        let gen = try GLMGenerator(model: model, threads: 3)
        #expect(try Self.kernelThreads() == before + 2)
        try gen.setThreads(GLMThreading.maximumThreadCount)
        #expect(gen.threads == GLMThreading.maximumThreadCount)
        #expect(try Self.kernelThreads(settlingAt: before + GLMThreading.maximumThreadCount - 1) == before + GLMThreading.maximumThreadCount - 1)
        try gen.setThreads(1)
        #expect(try Self.kernelThreads(settlingAt: before) == before)
    }
}
