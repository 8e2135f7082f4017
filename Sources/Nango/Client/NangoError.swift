/// Why a call to Nango failed. Nango's own error code and message are kept where it sent them.
public enum NangoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 401: missing, malformed or unknown secret key.
    case unauthorized(code: String, message: String?)
    /// 403: the key lacks a scope.
    case forbidden(code: String, message: String?)
    /// 404, or Nango's 400 `unknown_connection` / `unknown_provider_config`.
    case notFound(code: String, message: String?)
    /// 424: Nango could not refresh the connection's credentials and stopped trying.
    case refreshExhausted(code: String, message: String?)
    /// Any other 4xx: the request itself is wrong and retrying will not help.
    case badRequest(status: Int, code: String, message: String?)
    /// 429 after the retry budget ran out; `retryAfter` is what Nango last asked for.
    case rateLimited(retryAfter: Duration)
    /// 5xx after the retry budget ran out.
    case server(status: Int, code: String?, message: String?)
    /// No HTTP answer: connection refused, reset, TLS failure.
    case transport(String)
    /// No complete answer within the call's timeout.
    case timeout
    /// The answer did not have the expected shape; `field` is the coding path of the offending field.
    case decoding(field: String, message: String)

    public var description: String {
        switch self {
        case .unauthorized(let code, let message): "nango: unauthorized (\(code))\(message.map { ": \($0)" } ?? "")"
        case .forbidden(let code, let message): "nango: forbidden (\(code))\(message.map { ": \($0)" } ?? "")"
        case .notFound(let code, let message): "nango: not found (\(code))\(message.map { ": \($0)" } ?? "")"
        case .refreshExhausted(let code, let message): "nango: credentials refresh failed (\(code))\(message.map { ": \($0)" } ?? "")"
        case .badRequest(let status, let code, let message): "nango: \(status) \(code)\(message.map { ": \($0)" } ?? "")"
        case .rateLimited(let retryAfter): "nango: rate limited, retry after \(retryAfter)"
        case .server(let status, let code, let message): "nango: server error \(status)\(code.map { " \($0)" } ?? "")\(message.map { ": \($0)" } ?? "")"
        case .transport(let reason): "nango: unreachable: \(reason)"
        case .timeout: "nango: timed out"
        case .decoding(let field, let message): "nango: unexpected response at '\(field)': \(message)"
        }
    }

    /// Worth another attempt: the same request may succeed later.
    public var isTransient: Bool {
        switch self {
        case .server, .transport, .timeout, .rateLimited: true
        default: false
        }
    }
}

/// Nango's error body: `{"error": {"code": "...", "message": "..."}}`.
struct NangoErrorBody: Decodable {
    struct Detail: Decodable {
        let code: String?
        let message: String?
    }
    let error: Detail
}
