/// Turns texts into fixed-size vectors whose cosine similarity reflects meaning.
///
/// Implementations are safe to share between tasks. A database records `modelIdentifier`
/// and `dimension` when it is created and refuses an embedder that reports different ones.
public protocol Embedder: Sendable {
    /// Length of every vector `embed` returns.
    var dimension: Int { get }
    /// A stable name for the model and its pooling, e.g. `"all-MiniLM-L6-v2"`.
    var modelIdentifier: String { get }
    /// Embeds `texts`, returning one vector of `dimension` floats per text, in the same order.
    func embed(_ texts: [String]) async throws -> [[Float]]
}
