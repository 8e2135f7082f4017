/// Why a Redis call failed. Connection-level failures discard the connection; the next call reconnects.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Could not open a connection (refused, unreachable, authentication or database selection failed).
    case connectionFailed(String)
    /// The connection broke mid-call (reset, closed by the server).
    case connectionLost(String)
    /// No answer within the command timeout, or no free connection within it.
    case timeout
    /// A recent connection attempt failed; calls fail fast until the back-off passes.
    case unavailable(String)
    /// The server answered with an error reply.
    case server(String)
    /// The reply was not of the expected type.
    case unexpectedReply(String)
    /// The client was shut down.
    case closed

    /// The connection is unusable after this error and must be discarded.
    var breaksConnection: Bool {
        switch self {
        case .connectionLost, .timeout, .connectionFailed: true
        case .unavailable, .server, .unexpectedReply, .closed: false
        }
    }

    public var description: String {
        switch self {
        case .connectionFailed(let reason): "redis connection failed: \(reason)"
        case .connectionLost(let reason): "redis connection lost: \(reason)"
        case .timeout: "redis timed out"
        case .unavailable(let reason): "redis unavailable: \(reason)"
        case .server(let message): "redis error: \(message)"
        case .unexpectedReply(let reply): "unexpected redis reply: \(reply)"
        case .closed: "redis client is shut down"
        }
    }
}
