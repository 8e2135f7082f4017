import Foundation
import Logging
import PostgresNIO

/// An attempt as the console lists it: what the endpoint answered, and the message it was for.
public struct WebhookAttemptListing: Sendable, Equatable {
    public var id: Int64
    public var attemptedAt: Date
    public var statusCode: Int?
    public var latencyMs: Int
    public var responseExcerpt: String?
    public var error: String?
    public var messageId: String
    public var endpointId: UUID
    public var eventType: String
    /// Where the message stands now, not where it stood after this attempt.
    public var messageStatus: WebhookMessageStatus
}

/// One endpoint's attempts in one hour, and how many of them were answered 2xx.
public struct WebhookAttemptHour: Sendable, Equatable {
    public var endpointId: UUID
    /// Whole hours since 1970-01-01T00:00Z (so the buckets are UTC hours whatever the session's time zone).
    public var hour: Int64
    public var attempts: Int
    public var succeeded: Int

    public init(endpointId: UUID, hour: Int64, attempts: Int, succeeded: Int) {
        self.endpointId = endpointId
        self.hour = hour
        self.attempts = attempts
        self.succeeded = succeeded
    }
}

/// The console's reads of `webhook_attempts` by time, from `webhook_attempts_attempted_idx` (migration 0025).
extension WebhookMessagesTable {
    /// Attempts per endpoint and hour since `since` (hours without any are absent); one endpoint's, or every one's.
    /// Each attempt's endpoint is its message's, looked up by primary key in a subquery: as a join, Postgres prefers to
    /// hash every message kept (30 days of them) to match one day of attempts.
    public static func attemptHours(
        since: Date, endpointId: UUID?, on connection: PostgresConnection, logger: Logger
    ) async throws -> [WebhookAttemptHour] {
        let rows = try await connection.query("""
            SELECT endpoint_id, hour, count(*)::int, (count(*) FILTER (WHERE status_code BETWEEN 200 AND 299))::int
            FROM (
                SELECT (SELECT m.endpoint_id FROM webhook_messages m WHERE m.id = a.message_id) AS endpoint_id,
                       floor(extract(epoch FROM a.attempted_at) / 3600)::bigint AS hour, a.status_code
                FROM webhook_attempts a WHERE a.attempted_at >= \(since)
            ) attempts
            WHERE \(endpointId)::uuid IS NULL OR endpoint_id = \(endpointId)
            GROUP BY 1, 2 ORDER BY 1, 2
            """, logger: logger)
        var hours: [WebhookAttemptHour] = []
        for try await (endpoint, hour, attempts, succeeded) in rows.decode((UUID, Int64, Int, Int).self) {
            hours.append(WebhookAttemptHour(endpointId: endpoint, hour: hour, attempts: attempts, succeeded: succeeded))
        }
        return hours
    }

    /// The newest attempts, newest first: one endpoint's or every one's, those since `since` when given (a bound on
    /// how much of the index one endpoint's list may read).
    public static func latestAttempts(
        endpointId: UUID?, since: Date?, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [WebhookAttemptListing] {
        let rows = try await connection.query("""
            SELECT a.id, a.attempted_at, a.status_code, a.latency_ms, a.response_excerpt, a.error,
                   m.message_id, m.endpoint_id, m.event_type, m.status
            FROM webhook_attempts a JOIN webhook_messages m ON m.id = a.message_id
            WHERE (\(endpointId)::uuid IS NULL OR m.endpoint_id = \(endpointId))
              AND (\(since)::timestamptz IS NULL OR a.attempted_at >= \(since))
            ORDER BY a.attempted_at DESC, a.id DESC LIMIT \(limit)
            """, logger: logger)
        var attempts: [WebhookAttemptListing] = []
        for try await (id, at, code, latency, excerpt, error, messageId, endpoint, type, status)
            in rows.decode((Int64, Date, Int?, Int, String?, String?, String, UUID, String, String).self) {
            attempts.append(WebhookAttemptListing(
                id: id, attemptedAt: at, statusCode: code, latencyMs: latency, responseExcerpt: excerpt, error: error, messageId: messageId,
                endpointId: endpoint, eventType: type, messageStatus: WebhookMessageStatus(rawValue: status) ?? .failed))
        }
        return attempts
    }

    /// The newest message and the newest attempt (two primary-key lookups): what the console's live pages compare to
    /// see that a message was made or tried.
    public static func lastChange(on connection: PostgresConnection, logger: Logger) async throws -> String {
        let rows = try await connection.query("""
            SELECT (SELECT coalesce(max(id), 0) FROM webhook_messages), (SELECT coalesce(max(id), 0) FROM webhook_attempts)
            """, logger: logger)
        for try await (message, attempt) in rows.decode((Int64, Int64).self) { return "\(message).\(attempt)" }
        return "0.0"
    }
}
