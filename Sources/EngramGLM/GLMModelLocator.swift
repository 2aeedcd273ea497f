import EngramBase
import Foundation

/// Finds the GGUF model to use when none is given explicitly.
///
/// Order: the explicit path; the environment variable `ENGRAM_GLM_MODEL`;
/// `$ENGRAM_MODELS/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`; then
/// `Data/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` searched upward from the current
/// directory and from the executable's directory.
public enum GLMModelLocator {
    public static let defaultRelativePath = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    public static let setupCommand = "Tools/setup-models.sh"

    /// The model path to use.
    /// - Throws: `EngramError` `.notFound` (`glmModelNotFound`) naming the set-up script when
    ///   nothing is found, or when an explicit or environment path does not exist.
    public static func resolve(explicit: String? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment,
                               currentDirectory: String = FileManager.default.currentDirectoryPath,
                               executablePath: String? = Bundle.main.executablePath) throws -> String {
        let fm = FileManager.default
        if let explicit {
            guard fm.fileExists(atPath: explicit) else {
                throw EngramError(.notFound, "model file \(explicit) does not exist (pass the path of a .gguf file, or run \(setupCommand) for the default model)",
                                  reason: .glmModelNotFound)
            }
            return explicit
        }
        if let env = environment["ENGRAM_GLM_MODEL"], !env.isEmpty {
            guard fm.fileExists(atPath: env) else {
                throw EngramError(.notFound, "ENGRAM_GLM_MODEL names \(env), which does not exist", reason: .glmModelNotFound)
            }
            return env
        }
        var tried: [String] = []
        if let models = environment["ENGRAM_MODELS"], !models.isEmpty {
            let p = URL(fileURLWithPath: models).appendingPathComponent(defaultRelativePath).path
            if fm.fileExists(atPath: p) { return p }
            tried.append(p)
        }
        if let found = DataLocator.searchUpward("Data/models/" + defaultRelativePath, currentDirectory: currentDirectory,
                                                executablePath: executablePath, usable: { fm.fileExists(atPath: $0.path) }) {
            return found.path
        }
        tried.append("Data/models/\(defaultRelativePath) above \(currentDirectory)")
        throw EngramError(.notFound, """
            no GLM model found (looked in: \(tried.joined(separator: "; "))). \
            Run \(setupCommand) to download SmolLM2, or pass --model PATH or set ENGRAM_GLM_MODEL.
            """, reason: .glmModelNotFound)
    }
}
