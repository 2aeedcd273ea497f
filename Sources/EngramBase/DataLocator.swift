import Foundation

/// Finds what ships in the repository's `Data/` folder (models, prompt templates) without a
/// configured path: searched upward from the current directory and from the executable's
/// directory, which covers a source checkout and its `.build/…/engram`.
public enum DataLocator {
    /// The first `start/relativePath`, for each start directory and then its parents, that
    /// `usable` accepts; nil when none does.
    public static func searchUpward(_ relativePath: String, currentDirectory: String, executablePath: String?,
                                    usable: (URL) -> Bool) -> URL? {
        for start in starts(currentDirectory: currentDirectory, executablePath: executablePath) {
            var directory = start
            while true {
                let candidate = directory.appendingPathComponent(relativePath)
                if usable(candidate) { return candidate }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        return nil
    }

    /// Where `searchUpward` starts, for messages that list what was searched.
    public static func starts(currentDirectory: String, executablePath: String?) -> [URL] {
        var starts = [URL(fileURLWithPath: currentDirectory, isDirectory: true).standardizedFileURL]
        if let executablePath {
            starts.append(URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent().standardizedFileURL)
        }
        return starts
    }
}
