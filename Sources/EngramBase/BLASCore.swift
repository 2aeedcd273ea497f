import CKernels
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Makes OpenBLAS use the kernels this CPU can run.
///
/// OpenBLAS picks its kernels ("core type") from CPUID once, when the library is loaded, and
/// an older OpenBLAS that does not know a newer CPU falls back to its SSE3 kernels
/// (`Prescott`), 4–8× slower on every matrix product. It reads `OPENBLAS_CORETYPE` at that
/// moment only, and FAISS links it, so it is loaded before any Swift code runs: the only way
/// to change the choice is to set the variable and start the process again. Executables call
/// `correctIfNeeded()` first thing in `main`.
public enum BLASCore {
    /// How the core type in use was chosen.
    public enum Source: String, Sendable, Codable {
        /// OpenBLAS's own detection, which fits the CPU.
        case detected
        /// `OPENBLAS_CORETYPE` as the user (or the environment) set it: always kept.
        case environment
        /// Set by Engram, which restarted the process, because OpenBLAS had picked a core type
        /// below what the CPU supports.
        case corrected
        /// No OpenBLAS in this process.
        case none
    }

    /// The core type in use and how it was chosen.
    public struct Choice: Sendable, Codable, Equatable, CustomStringConvertible {
        /// OpenBLAS's name for its kernels (`openblas_get_corename()`), e.g. `SkylakeX`.
        public let core: String
        public let source: Source
        /// What OpenBLAS had picked by itself, when Engram corrected it.
        public let detected: String?

        public var description: String {
            switch source {
            case .detected: return "\(core) (detected by OpenBLAS)"
            case .environment: return "\(core) (OPENBLAS_CORETYPE)"
            case .corrected: return "\(core) (set by Engram: OpenBLAS had picked \(detected ?? "?"), below what this CPU supports)"
            case .none: return "none (OpenBLAS is not loaded)"
            }
        }
    }

    /// The environment variable OpenBLAS reads.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Set by Engram on the restarted process: the core type OpenBLAS had picked. It marks the
    /// setting as Engram's (not the user's) and keeps a process from restarting twice.
    public static let correctedFromVariable = "ENGRAM_BLAS_CORRECTED_FROM"

    /// OpenBLAS's core type in this process, nil without OpenBLAS.
    public static var loadedCore: String? {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "openblas_get_corename") else { return nil }
        typealias CoreName = @convention(c) () -> UnsafeMutablePointer<CChar>?
        guard let name = unsafeBitCast(symbol, to: CoreName.self)() else { return nil }
        return String(cString: name)
    }

    /// The core type that fits this CPU's vector units (CPUID), nil where there is no better
    /// choice than OpenBLAS's own.
    public static var coreForCPU: String? { ek_openblas_core_for_cpu().map { String(cString: $0) } }

    /// The vector-unit tier of an OpenBLAS core type: 3 AVX-512, 2 AVX2, 1 AVX, 0 older or
    /// unknown.
    public static func tier(_ core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen", "skylake": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 1
        default: return 0
        }
    }

    /// The core type to set, if any: the CPU's, when OpenBLAS picked a lower tier, neither the
    /// user nor an earlier start of this process has set one, and the CPU's is known.
    static func correction(loaded: String?, forCPU: String?, environment: [String: String]) -> String? {
        guard environment[coreTypeVariable] == nil, environment[correctedFromVariable] == nil,
              let loaded, let forCPU, tier(loaded) < tier(forCPU) else { return nil }
        return forCPU
    }

    /// The choice in force in this process.
    public static var choice: Choice {
        guard let core = loadedCore else { return Choice(core: "none", source: .none, detected: nil) }
        let environment = ProcessInfo.processInfo.environment
        if let from = environment[correctedFromVariable], environment[coreTypeVariable] != nil {
            return Choice(core: core, source: .corrected, detected: from)
        }
        if environment[coreTypeVariable] != nil { return Choice(core: core, source: .environment, detected: nil) }
        return Choice(core: core, source: .detected, detected: nil)
    }

    /// If OpenBLAS picked kernels below what this CPU supports (and neither the user nor an
    /// earlier start set `OPENBLAS_CORETYPE`), sets it to the CPU's core type and starts the
    /// process again with the same arguments: in that case it does not return. Otherwise, or
    /// when the restart fails, it returns and the process goes on with OpenBLAS's choice.
    /// The choice is logged once at debug level. Call it first in `main`, before any output
    /// and before other threads start.
    public static func correctIfNeeded(logger: Logger = Logger(label: "engram.blas")) {
        let loaded = loadedCore
        if let core = correction(loaded: loaded, forCPU: coreForCPU, environment: ProcessInfo.processInfo.environment),
           let loaded {
            logger.debug("OpenBLAS picked \(loaded), below this CPU's \(core): restarting with \(coreTypeVariable)=\(core)")
            setenv(coreTypeVariable, core, 1)
            setenv(correctedFromVariable, loaded, 1)
            fflush(nil)
            #if os(Linux)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            #endif
            // Still here: the restart failed. Go on with OpenBLAS's choice.
            unsetenv(coreTypeVariable)
            unsetenv(correctedFromVariable)
            logger.debug("restart with \(coreTypeVariable)=\(core) failed (errno \(errno)); OpenBLAS keeps \(loaded)")
            return
        }
        logger.debug("OpenBLAS core type: \(choice)")
    }
}
