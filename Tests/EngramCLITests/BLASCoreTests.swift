import EngramBase
import Foundation
import Testing

/// `BLASCore.correctIfNeeded()` in the real `engram` binary, with the real OpenBLAS. An
/// OpenBLAS that does not know the CPU is played by a preloaded library whose
/// `openblas_get_corename` answers `Prescott` until `OPENBLAS_CORETYPE` is set, and OpenBLAS's
/// own answer after that, so the restarted process shows what OpenBLAS really loaded.
@Suite("OpenBLAS core type: corrected at start-up, the user's setting kept")
struct BLASCoreTests {
    static let shimSource = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <stdlib.h>
        char *openblas_get_corename(void) {
            if (!getenv("OPENBLAS_CORETYPE")) return "Prescott";
            char *(*real)(void) = (char *(*)(void))dlsym(RTLD_NEXT, "openblas_get_corename");
            return real ? real() : "none";
        }
        """

    /// Builds the preloaded library with the system's C compiler.
    static func buildShim(in dir: URL) throws -> String {
        let source = dir.appendingPathComponent("shim.c"), library = dir.appendingPathComponent("libshim.so")
        try shimSource.write(to: source, atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-shared", "-fPIC", "-o", library.path, source.path, "-ldl"]
        try cc.run()
        cc.waitUntilExit()
        try #require(cc.terminationStatus == 0, "cc could not build the test library")
        return library.path
    }

    static let unset: [String: String?] = [BLASCore.coreTypeVariable: nil, BLASCore.correctedFromVariable: nil]

    @Test("kernels below the CPU's: the process restarts with OPENBLAS_CORETYPE set to the CPU's core type")
    func restartsWithTheCPUsCore() throws {
        let expected = try #require(BLASCore.coreForCPU, "this CPU has no core type above OpenBLAS's SSE3 kernels")
        try withTempDir { dir in
            var env = Self.unset
            env["LD_PRELOAD"] = try Self.buildShim(in: dir)
            let r = try CLI.run(["model", "info"], environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("CPU kernels:") })
            #expect(line.hasSuffix("OpenBLAS core \(expected) (set by Engram: OpenBLAS had picked Prescott, below what this CPU supports)"),
                    "\(line)")
        }
    }

    @Test("a core type the user set is kept, even below the CPU's")
    func userSettingWins() throws {
        try withTempDir { dir in
            var env = Self.unset
            env["LD_PRELOAD"] = try Self.buildShim(in: dir)
            env[BLASCore.coreTypeVariable] = "Prescott"
            let r = try CLI.run(["model", "info"], environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("OpenBLAS core Prescott (OPENBLAS_CORETYPE)\n"), "\(r.stdout.prefix(300))")
        }
    }

    @Test("with nothing set, OpenBLAS runs kernels of the CPU's tier (its own choice or Engram's)")
    func noSettingRunsTheCPUsTier() throws {
        let r = try CLI.run(["model", "info"], environment: Self.unset)
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("CPU kernels:") })
        let core = try #require(line.range(of: "OpenBLAS core ").map { line[$0.upperBound...].split(separator: " ")[0] })
        #expect(BLASCore.tier(String(core)) >= BLASCore.tier(BLASCore.coreForCPU ?? "Prescott"), "\(line)")
    }
}
