import EngramBase
import Foundation

/// Finds the all-MiniLM-L6-v2 model folder.
///
/// Order: an explicit path; else `ENGRAM_EMBED_MODEL`; else `$ENGRAM_MODELS/all-MiniLM-L6-v2`;
/// else `Data/models/all-MiniLM-L6-v2` in the current directory or any parent, then in the
/// executable's directory or any parent. A candidate counts when it holds `model.safetensors`.
/// An explicit path or `ENGRAM_EMBED_MODEL` that points nowhere is an error (it is not
/// silently replaced by a search); `ENGRAM_MODELS` is shared with other models, so when it
/// lacks this one the search goes on.
public enum EmbedderModelLocator {
    /// Folder name of the model inside a models directory.
    public static let modelFolderName = "all-MiniLM-L6-v2"
    /// Path of the models directory relative to the project root.
    public static let relativeModelPath = "Data/models/all-MiniLM-L6-v2"
    /// The script that downloads the model files.
    public static let setupCommand = "Tools/setup-models.sh"

    /// - Throws: `EngramError` `.notFound` (`embeddingModelNotFound`), whose message names
    ///   `Tools/setup-models.sh`.
    public static func locate(explicit: String?) throws -> URL {
        try locate(explicit: explicit, environment: ProcessInfo.processInfo.environment,
                   currentDirectory: FileManager.default.currentDirectoryPath,
                   executablePath: CommandLine.arguments.first.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path })
    }

    /// As `locate(explicit:)`, with the environment and starting points given (for tests).
    public static func locate(explicit: String?, environment: [String: String], currentDirectory: String,
                              executablePath: String?) throws -> URL {
        func expand(_ path: String) -> URL {
            let expanded = (path as NSString).expandingTildeInPath
            return URL(fileURLWithPath: expanded, relativeTo: URL(fileURLWithPath: currentDirectory, isDirectory: true))
                .standardizedFileURL
        }
        func usable(_ url: URL) -> Bool {
            FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path)
        }
        if let explicit, !explicit.isEmpty {
            let url = expand(explicit)
            guard usable(url) else { throw EngramError.embeddingModelNotFound(searched: [url.path]) }
            return url
        }
        if let path = environment["ENGRAM_EMBED_MODEL"], !path.isEmpty {
            let url = expand(path)
            guard usable(url) else { throw EngramError.embeddingModelNotFound(searched: ["ENGRAM_EMBED_MODEL=\(url.path)"]) }
            return url
        }
        var searched: [String] = []
        if let models = environment["ENGRAM_MODELS"], !models.isEmpty {
            let url = expand(models).appendingPathComponent(modelFolderName)
            if usable(url) { return url }
            searched.append("ENGRAM_MODELS/\(modelFolderName) = \(url.path)")
        }
        if let found = DataLocator.searchUpward(relativeModelPath, currentDirectory: currentDirectory,
                                                executablePath: executablePath, usable: usable) {
            return found
        }
        for start in DataLocator.starts(currentDirectory: currentDirectory, executablePath: executablePath) {
            searched.append("\(start.path) and its parents (\(relativeModelPath))")
        }
        throw EngramError.embeddingModelNotFound(searched: searched)
    }
}
