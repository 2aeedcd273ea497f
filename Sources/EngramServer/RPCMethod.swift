/// The methods of the socket API, by their full names (`engram.v1.Service/Method`), as
/// `Data/api/engram.v1.json` describes them.
public enum RPCMethod: String, CaseIterable, Sendable {
    case memoryUpsert = "engram.v1.Memory/Upsert"
    case memoryGet = "engram.v1.Memory/Get"
    case memoryDelete = "engram.v1.Memory/Delete"
    case memoryQuery = "engram.v1.Memory/Query"
    case memoryStats = "engram.v1.Memory/Stats"
    case memoryExport = "engram.v1.Memory/Export"
    case ragAsk = "engram.v1.RAG/Ask"
    case ragFeedback = "engram.v1.RAG/Feedback"
    case graphEntity = "engram.v1.Graph/Entity"
    case graphPath = "engram.v1.Graph/Path"
    case graphStats = "engram.v1.Graph/Stats"
    case graphPurge = "engram.v1.Graph/Purge"
    case ingestStatus = "engram.v1.Ingest/Status"
    case ingestErrors = "engram.v1.Ingest/Errors"
    case ingestImport = "engram.v1.Ingest/Import"
    case ingestWatch = "engram.v1.Ingest/Watch"
    case healthCheck = "engram.v1.Health/Check"
    case adminReloadModel = "engram.v1.Admin/ReloadModel"
    case adminCompact = "engram.v1.Admin/Compact"
    case adminShutdown = "engram.v1.Admin/Shutdown"
    case controlCancel = "engram.v1.Control/Cancel"

    /// How a method answers.
    public enum Kind: String, Sendable {
        /// One `{"id","result"}`.
        case unary
        /// `{"id","message"}` frames, then `{"id","status":{"code":"OK"}}`.
        case serverStreaming = "server-streaming"
    }

    public var kind: Kind {
        switch self {
        case .memoryExport, .ragAsk, .ingestImport: return .serverStreaming
        default: return .unary
        }
    }
}
