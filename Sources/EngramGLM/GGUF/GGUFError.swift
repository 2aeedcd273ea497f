/// An error of the GLM engine: a file that cannot be read, a model that is not supported,
/// or a request that cannot be served. `description` says what is wrong and, where it
/// helps, what to do.
public struct GLMError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case io, format, unsupported, invalidArgument, modelNotFound }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func format(_ m: String) -> GLMError { GLMError(.format, "invalid GGUF file: \(m)") }
}
