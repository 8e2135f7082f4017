import Foundation
import Logging
import NIOCore
import PostgresNIO

/// An outbound webhook endpoint as stored; the secrets stay sealed.
public struct WebhookEndpointRecord: Sendable, Equatable {
    public var id: UUID
    public var url: String
    public var description: String?
    /// nil: every type.
    public var eventTypes: [String]?
    /// nil: every company.
    public var companyId: UUID?
    public var rateLimit: Int?
    public var status: WebhookEndpointStatus
    public var disabledReason: String?
    public var secretSealed: [UInt8]
    public var previousSecretSealed: [UInt8]?
    public var previousSecretUntil: Date?
    public var failingSince: Date?
    public var lastSuccessAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    /// Whether a message of `type` about `company` goes to this endpoint.
    public func wants(_ type: String, company: UUID?) -> Bool {
        (eventTypes?.contains(type) ?? true) && (companyId == nil || companyId == company)
    }
}

/// What ops may change of an endpoint (`PATCH`); nil leaves a field as it is.
public struct WebhookEndpointChange: Sendable {
    public var url: String?
    /// `.some(nil)`: every type again.
    public var eventTypes: [String]??
    public var status: WebhookEndpointStatus?
    public var description: String??

    public init(url: String? = nil, eventTypes: [String]?? = nil, status: WebhookEndpointStatus? = nil, description: String?? = nil) {
        self.url = url
        self.eventTypes = eventTypes
        self.status = status
        self.description = description
    }
}

/// SQL for `webhook_endpoints`.
public enum WebhookEndpointsTable {
    static let columns = """
        id, url, description, event_types, company_id, rate_limit, status, disabled_reason, secret_sealed, previous_secret_sealed,
        previous_secret_until, failing_since, last_success_at, created_at, updated_at
        """

    static func decode(_ rows: [PostgresRow]) throws -> [WebhookEndpointRecord] {
        try rows.map { row in
            let (id, url, description, types, company, rate, status, reason, secret, previous, until, failing, success, created, updated) =
                try row.decode((UUID, String, String?, [String]?, UUID?, Int?, String, String?, ByteBuffer, ByteBuffer?, Date?, Date?, Date?, Date, Date).self)
            return WebhookEndpointRecord(
                id: id, url: url, description: description, eventTypes: types, companyId: company, rateLimit: rate,
                status: WebhookEndpointStatus(rawValue: status) ?? .disabled, disabledReason: reason, secretSealed: Array(secret.readableBytesView),
                previousSecretSealed: previous.map { Array($0.readableBytesView) }, previousSecretUntil: until, failingSince: failing, lastSuccessAt: success,
                createdAt: created, updatedAt: updated)
        }
    }

    public static func create(
        url: String, description: String?, eventTypes: [String]?, companyId: UUID?, rateLimit: Int?, secretSealed: [UInt8],
        on connection: PostgresConnection, logger: Logger
    ) async throws -> WebhookEndpointRecord {
        let rows = try await connection.query("""
            INSERT INTO webhook_endpoints (url, description, event_types, company_id, rate_limit, secret_sealed)
            VALUES (\(url), \(description), \(eventTypes), \(companyId), \(rateLimit), \(ByteBuffer(bytes: secretSealed)))
            RETURNING \(unescaped: columns)
            """, logger: logger).collect()
        guard let endpoint = try decode(rows).first else { throw StorageError.noRowReturned("webhook_endpoints insert") }
        return endpoint
    }

    public static func get(id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> WebhookEndpointRecord? {
        try decode(try await connection.query("SELECT \(unescaped: columns) FROM webhook_endpoints WHERE id = \(id)", logger: logger).collect()).first
    }

    /// The endpoints of these ids that exist, by id.
    public static func get(ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: WebhookEndpointRecord] {
        guard !ids.isEmpty else { return [:] }
        let endpoints = try decode(try await connection.query(
            "SELECT \(unescaped: columns) FROM webhook_endpoints WHERE id = ANY(\(ids))", logger: logger).collect())
        return Dictionary(endpoints.map { ($0.id, $0) }) { first, _ in first }
    }

    /// Every endpoint, oldest first (a keyset page after `after`).
    public static func list(after: UUID?, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [WebhookEndpointRecord] {
        try decode(try await connection.query("""
            SELECT \(unescaped: columns) FROM webhook_endpoints
            WHERE \(after)::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM webhook_endpoints WHERE id = \(after))
            ORDER BY created_at, id LIMIT \(limit)
            """, logger: logger).collect())
    }

    /// Every endpoint, for the dispatcher (a small table), share-locked until its transaction ends: an endpoint disabled
    /// meanwhile waits for the dispatcher's messages to commit, then fails them with its other pending ones.
    public static func allLocked(on connection: PostgresConnection, logger: Logger) async throws -> [WebhookEndpointRecord] {
        try decode(try await connection.query("SELECT \(unescaped: columns) FROM webhook_endpoints ORDER BY created_at, id FOR SHARE", logger: logger).collect())
    }

    public static func update(id: UUID, _ change: WebhookEndpointChange, on connection: PostgresConnection, logger: Logger) async throws -> WebhookEndpointRecord? {
        let typesGiven = change.eventTypes != nil
        let types: [String]? = change.eventTypes ?? nil
        let descriptionGiven = change.description != nil
        let description: String? = change.description ?? nil
        let rows = try await connection.query("""
            UPDATE webhook_endpoints SET
                url = coalesce(\(change.url), url),
                event_types = CASE WHEN \(typesGiven) THEN \(types) ELSE event_types END,
                description = CASE WHEN \(descriptionGiven) THEN \(description) ELSE description END,
                status = coalesce(\(change.status?.rawValue), status),
                disabled_reason = CASE WHEN \(change.status?.rawValue) = 'disabled' THEN 'disabled by ops'
                                       WHEN \(change.status?.rawValue) = 'enabled' THEN NULL ELSE disabled_reason END,
                failing_since = CASE WHEN \(change.status?.rawValue) = 'enabled' THEN NULL ELSE failing_since END,
                updated_at = now()
            WHERE id = \(id)
            RETURNING \(unescaped: columns)
            """, logger: logger).collect()
        return try decode(rows).first
    }

    public static func delete(id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.query("DELETE FROM webhook_endpoints WHERE id = \(id) RETURNING 1", logger: logger).collect().count == 1
    }

    /// A new secret; the current one keeps signing until `overlapUntil`.
    public static func rotate(id: UUID, secretSealed: [UInt8], overlapUntil: Date, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.query("""
            UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, previous_secret_until = \(overlapUntil),
                   secret_sealed = \(ByteBuffer(bytes: secretSealed)), updated_at = now()
            WHERE id = \(id) RETURNING 1
            """, logger: logger).collect().count == 1
    }

    /// An answer in 2xx: the endpoint is healthy again.
    public static func recordSuccess(id: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE webhook_endpoints SET last_success_at = now(), failing_since = NULL WHERE id = \(id)
            """, logger: logger)
    }

    /// A failed attempt: starts the failing streak, and disables the endpoint once it has failed for `disableAfter`
    /// without a success. True when this disabled it.
    public static func recordFailure(id: UUID, disableAfter: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let seconds = Double(disableAfter.components.seconds)
        let rows = try await connection.query("""
            WITH judged AS (
                SELECT e.id, e.status = 'enabled' AND e.failing_since < now() - make_interval(secs => \(seconds)) AS expired
                FROM webhook_endpoints e WHERE e.id = \(id) FOR UPDATE
            )
            UPDATE webhook_endpoints w SET failing_since = coalesce(w.failing_since, now()),
                status = CASE WHEN j.expired THEN 'disabled' ELSE w.status END,
                disabled_reason = CASE WHEN j.expired THEN 'no success for ' || \(Int(seconds)) || ' seconds' ELSE w.disabled_reason END,
                updated_at = now()
            FROM judged j WHERE w.id = j.id
            RETURNING coalesce(j.expired, false)
            """, logger: logger).collect()
        return try rows.first?.decode(Bool.self) ?? false
    }

    /// Disabled at once (the endpoint answered 410 Gone). True when it was enabled.
    public static func disable(id: UUID, reason: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.query("""
            UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = \(reason), updated_at = now()
            WHERE id = \(id) AND status = 'enabled' RETURNING 1
            """, logger: logger).collect().count == 1
    }
}
