import Hummingbird
import Ingest
import Logging
import Nango
import Pipeline
import Outbound
import Query
import MarketplaceCore
import PostgresNIO
import Redis
import Storage
import Tokens

extension APIError {
    /// A 401 that asks for a bearer token (`WWW-Authenticate: Bearer`): a missing, malformed, expired or revoked one.
    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, code: "unauthorized", message: message, headers: [.wwwAuthenticate: "Bearer"])
    }

    /// Maps any error to the API shape. Known errors keep their meaning; anything else is logged in
    /// full here and answered as a bare 500, so internals never reach a client.
    init(mapping error: any Error, logger: Logger) {
        switch error {
        case let error as APIError:
            self = error
        case let error as WebhookIntake.Failure:
            switch error {
            case .signatureMissing, .signatureInvalid:
                self.init(.unauthorized, code: "invalid_signature", message: "missing or invalid webhook signature")
            case .invalidPayload(let message):
                self.init(.badRequest, code: "invalid_payload", message: message)
            case .unavailable:
                self.init(.serviceUnavailable, code: "unavailable", message: "the inbox is unavailable, retry later", headers: [.retryAfter: "5"])
            }
        case let error as NangoError:
            // Nango's own words (and the provider's behind them) go to the log with the request id, never to the client.
            logger.warning("Nango refused or failed a call", metadata: ["error": "\(error)"])
            switch error {
            case .notFound:
                self.init(.notFound, code: "connection_not_found", message: "Nango knows no such connection for this integration")
            case .badRequest:
                self.init(.badRequest, code: "nango_refused", message: "Nango refused the request")
            case .refreshExhausted:
                self.init(.conflict, code: "connection_refresh_failed", message: "Nango could not refresh this connection's credentials; reconnect it")
            case .unauthorized, .forbidden:
                self.init(.badGateway, code: "nango_credentials", message: "this service's Nango key was refused")
            case .rateLimited, .server, .transport, .timeout, .decoding:
                self.init(.badGateway, code: "nango_unavailable", message: "Nango did not answer usably, retry later")
            }
        case let error as QueryParameterError:
            self.init(.badRequest, code: "invalid_parameter", message: error.description)
        case let error as WebhookEndpointError:
            switch error {
            case .invalid(let field, let reason):
                self.init(.badRequest, code: "invalid_parameter", message: "'\(field)' \(reason)")
            case .notFound:
                self = .notFound
            }
        case let error as ChangeFeedError:
            switch error {
            case .cursorExpired:
                self.init(.gone, code: "cursor_expired", message:
                    "the cursor is older than the change log keeps (RETENTION_CHANGES): start again from after=now and re-read the lists")
            case .tooManyWaiters:
                self.init(.serviceUnavailable, code: "too_many_waiters", message: "this instance holds as many change polls as it may; retry shortly",
                          headers: [.retryAfter: "1"])
            }
        case let error as PipelineActionError:
            switch error {
            case .unknownPipeline: self = .notFound
            case .disabledPipeline: self.init(.conflict, code: "pipeline_disabled", message: error.description)
            case .noPipelinesLoaded: self.init(.serviceUnavailable, code: "no_pipelines", message: error.description)
            }
        case let error as PipelineOpsError:
            switch error {
            case .jobNotFound: self = .notFound
            case .jobNotRetryable(let status):
                self.init(.conflict, code: "not_retryable", message: "the job is \(status); only dead, failed or cancelled jobs are retried")
            }
        case let error as SyncRequestError:
            switch error {
            case .companyNotFound:
                self = .notFound
            case .companyInactive(let status):
                self.init(.conflict, code: "company_inactive", message: "the company is \(status.rawValue); reconnect it before syncing")
            case .nangoRefused(let nangoError):
                // Nango's text can carry provider details: the log has it, with the request id; the client does not.
                logger.warning("Nango refused a sync trigger", metadata: ["error": "\(nangoError)"])
                self.init(.badGateway, code: "nango_error", message: "Nango refused the sync trigger")
            }
        case let error as TokenError:
            self = .unauthorized(error.description)
        case let error as HTTPError:
            self.init(error.status, code: Self.code(for: error.status), message: error.body ?? Self.message(for: error.status))
        case let error as any HTTPResponseError:
            self.init(error.status, code: Self.code(for: error.status), message: Self.message(for: error.status))
        case let error as PSQLError:
            self.init(postgres: error, logger: logger)
        case is TimeoutError, is ConnectionClosedError:
            logger.error("database unavailable", metadata: ["error": "\(String(reflecting: error))"])
            self = .unavailable
        default:
            logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            self = .internalError
        }
    }

    /// A Postgres failure by what the server said, not by the fact that it failed: only what a retry may cure is a
    /// 503 (which tells the client to send the same request again).
    init(postgres error: PSQLError, logger: Logger) {
        let detail: Logger.Metadata = ["error": "\(String(reflecting: error))", "sqlstate": "\(error.serverInfo?[.sqlState] ?? "none")"]
        switch error.meaning {
        case .invalidValue:
            // The edge should have refused the value: this line names the statement that received it.
            logger.warning("postgres refused a value of the request", metadata: detail)
            self.init(.badRequest, code: "invalid_value", message: "a value in the request is malformed or out of range")
        case .conflict:
            logger.warning("postgres refused a write as conflicting", metadata: detail)
            self.init(.conflict, code: "conflict", message: "the request conflicts with the stored data")
        case .transient, .unreachable:
            logger.error("database unavailable", metadata: detail)
            self = .unavailable
        case .refused:
            logger.error("postgres refused a statement", metadata: detail)
            self = .internalError
        }
    }

    /// Retry-After: a database that is down, restarting or busy is worth asking again in a few seconds.
    static let unavailable = APIError(
        .serviceUnavailable, code: "unavailable", message: "a dependency is unavailable, retry later", headers: [.retryAfter: "5"])

    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .badRequest: "bad_request"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "payload_too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .tooManyRequests: "rate_limited"
        case .serviceUnavailable: "unavailable"
        default: status.code >= 500 ? "internal_error" : "http_\(status.code)"
        }
    }

    static func message(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "no such resource"
        case .contentTooLarge: "request body too large"
        default: status.reasonPhrase.lowercased()
        }
    }
}
