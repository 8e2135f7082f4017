import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// SQL for `webhook_events`, the inbox.
public enum WebhookEventsTable {
    /// How long identical bytes count as a redelivery. Nango's retries span under two minutes
    /// (3 attempts, 3 s and 6 s apart, 20 s timeouts); identical bytes later are a new event.
    public static let redeliveryWindow = "1 hour"

    /// Many events without their jobs: ``reserve(keys:on:logger:)`` then ``insert(_:on:logger:)``. Returns the new
    /// ids by dedupe key; a key missing from the answer was a repeat (within the window, or earlier in this batch).
    public static func insertBatch(
        _ events: [(event: InboxEvent, status: WebhookEventStatus)], on connection: PostgresConnection, logger: Logger
    ) async throws -> [String: Int64] {
        let ids = try await reserve(keys: events.map(\.event.dedupeKey), on: connection, logger: logger)
        let fresh = zip(events, ids).compactMap { event, id in id.map { NewEvent(id: $0, event: event.event, status: event.status, jobID: nil) } }
        let inserted = try await insert(fresh, on: connection, logger: logger)
        return Dictionary(uniqueKeysWithValues: fresh.filter { inserted.contains($0.id) }.map { ($0.event.dedupeKey, $0.id) })
    }

    /// The first of the inbox's group commit's two statements on this table: older same-bytes events step aside (so
    /// the unique key covers only the redelivery window), and each key gets the id its event will take, or nil for a
    /// repeat (an event of the same bytes within the window, or the same key earlier in `keys`). Knowing the ids
    /// first lets a batch's jobs be written before its events, and each event be inserted already linked to its job.
    public static func reserve(keys: [String], on connection: PostgresConnection, logger: Logger) async throws -> [Int64?] {
        guard !keys.isEmpty else { return [] }
        let rows = try await connection.query("""
            WITH aside AS (
                UPDATE webhook_events SET dedupe_key = dedupe_key || ':' || id
                WHERE dedupe_key = ANY(\(keys)::text[]) AND received_at < now() - \(redeliveryWindow)::interval
                RETURNING id
            )
            SELECT CASE WHEN u.rank > 1
                          OR EXISTS (SELECT 1 FROM webhook_events w
                                     WHERE w.dedupe_key = u.k AND w.received_at >= now() - \(redeliveryWindow)::interval)
                        THEN NULL
                        ELSE nextval(pg_get_serial_sequence('webhook_events', 'id')) END
            FROM (SELECT k, n, row_number() OVER (PARTITION BY k ORDER BY n) AS rank
                  FROM unnest(\(keys)::text[]) WITH ORDINALITY AS v(k, n) ORDER BY n) u
            ORDER BY u.n
            """, logger: logger)
        var ids: [Int64?] = []
        for try await id in rows.decode(Int64?.self) { ids.append(id) }
        guard ids.count == keys.count else { throw StorageError.noRowReturned("webhook_events reserve: \(ids.count) of \(keys.count)") }
        return ids
    }

    /// An event to insert under the id ``reserve(keys:on:logger:)`` gave it, with its job when it has one.
    public struct NewEvent: Sendable {
        public var id: Int64
        public var event: InboxEvent
        public var status: WebhookEventStatus
        public var jobID: Int64?

        public init(id: Int64, event: InboxEvent, status: WebhookEventStatus, jobID: Int64?) {
            self.id = id
            self.event = event
            self.status = status
            self.jobID = jobID
        }
    }

    /// The reserved events in one `UNNEST` insert; returns the ids inserted. An id missing from the answer lost a
    /// race: a concurrent delivery of the same bytes took its key between reserve and insert (the unique index
    /// decides, not the earlier read).
    public static func insert(_ events: [NewEvent], on connection: PostgresConnection, logger: Logger) async throws -> Set<Int64> {
        guard !events.isEmpty else { return [] }
        // "" stands for NULL: arrays of optionals are not bindable, and no field here is meaningfully empty.
        func column(_ value: (InboxEvent) -> String?) -> [String] { events.map { value($0.event) ?? "" } }
        // In key order: two batches holding the same keys take their unique-index entries in one order, so neither waits
        // on the other while holding what the other waits for.
        let rows = try await connection.query("""
            INSERT INTO webhook_events (id, type, operation, success, connection_id, integration_id, provider, model, sync_name,
                                        dedupe_key, raw_body, status, job_id)
            OVERRIDING SYSTEM VALUE
            SELECT e.id, e.type, NULLIF(e.operation, ''), NULLIF(e.success, '')::boolean, NULLIF(e.connection_id, ''),
                   NULLIF(e.integration_id, ''), NULLIF(e.provider, ''), NULLIF(e.model, ''), NULLIF(e.sync_name, ''),
                   e.dedupe_key, e.raw_body, e.status, NULLIF(e.job_id, 0)
            FROM UNNEST(\(events.map(\.id))::int8[], \(events.map(\.event.type))::text[], \(column(\.operation))::text[],
                        \(column { $0.success.map(String.init) })::text[], \(column(\.connectionId))::text[], \(column(\.integrationId))::text[],
                        \(column(\.provider))::text[], \(column(\.model))::text[], \(column(\.syncName))::text[],
                        \(events.map(\.event.dedupeKey))::text[], \(events.map(\.event.rawBody))::text[], \(events.map(\.status.rawValue))::text[],
                        \(events.map { $0.jobID ?? 0 })::int8[])
                 AS e(id, type, operation, success, connection_id, integration_id, provider, model, sync_name, dedupe_key, raw_body, status, job_id)
            ORDER BY e.dedupe_key
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING id
            """, logger: logger)
        var ids: Set<Int64> = []
        for try await id in rows.decode(Int64.self) { ids.insert(id) }
        return ids
    }

    public static func count(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("SELECT count(*)::int FROM webhook_events", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}

/// Which stored webhooks an ops view or a replay covers.
public typealias WebhookEventFilter = WebhookEventsTable.Filter
/// Where a page of the inbox ended, for the next one.
public typealias WebhookEventPosition = WebhookEventsTable.Position
/// A stored webhook as ops see it (without its body).
public typealias WebhookEvent = WebhookEventsTable.Event

extension WebhookEventsTable {
    public struct Event: Sendable, Equatable {
        public var id: Int64
        public var receivedAt: Date
        public var type: String
        public var operation: String?
        public var connectionId: String?
        public var integrationId: String?
        public var model: String?
        public var status: String
        public var error: String?
    }

    /// Where a page of events ended: the next page starts after it. The time is kept in whole microseconds, as
    /// Postgres keeps it, so a cursor names exactly the row it came from.
    public struct Position: Sendable, Equatable {
        public var receivedAtMicroseconds: Int64
        public var id: Int64

        public init(receivedAtMicroseconds: Int64, id: Int64) {
            self.receivedAtMicroseconds = receivedAtMicroseconds
            self.id = id
        }

        public init(_ event: Event) {
            self.init(receivedAtMicroseconds: Int64((event.receivedAt.timeIntervalSince1970 * 1_000_000).rounded()), id: event.id)
        }
    }

    public struct Filter: Sendable {
        public var type: String?
        public var status: String?
        public var connectionId: String?
        /// With `connectionId`, one company's events (a connection id alone may name one under several integrations).
        public var integrationId: String?
        public var since: Date?
        public var until: Date?
        /// Keyset paging: only events older than this one (newest first, as the list is ordered).
        public var before: Position?
        public var limit: Int

        public init(
            type: String? = nil, status: String? = nil, connectionId: String? = nil, integrationId: String? = nil, since: Date? = nil,
            until: Date? = nil, before: Position? = nil, limit: Int = 50
        ) {
            self.before = before
            self.type = type
            self.status = status
            self.connectionId = connectionId
            self.integrationId = integrationId
            self.since = since
            self.until = until
            self.limit = limit
        }
    }

    public static func list(_ filter: Filter, on connection: PostgresConnection, logger: Logger) async throws -> [Event] {
        let rows = try await connection.query("""
            SELECT id, received_at, type, operation, connection_id, integration_id, model, status, error FROM webhook_events
            WHERE (\(filter.type)::text IS NULL OR type = \(filter.type)) AND (\(filter.status)::text IS NULL OR status = \(filter.status))
              AND (\(filter.connectionId)::text IS NULL OR connection_id = \(filter.connectionId))
              AND (\(filter.integrationId)::text IS NULL OR integration_id = \(filter.integrationId))
              AND (\(filter.since)::timestamptz IS NULL OR received_at >= \(filter.since)) AND (\(filter.until)::timestamptz IS NULL OR received_at < \(filter.until))
              AND (\(filter.before?.id)::bigint IS NULL
                   OR (received_at, id) < ('epoch'::timestamptz + \(filter.before?.receivedAtMicroseconds)::bigint * interval '1 microsecond', \(filter.before?.id)))
            ORDER BY received_at DESC, id DESC LIMIT \(filter.limit)
            """, logger: logger)
        var events: [Event] = []
        for try await row in rows.decode((Int64, Date, String, String?, String?, String?, String?, String, String?).self) {
            events.append(Event(id: row.0, receivedAt: row.1, type: row.2, operation: row.3, connectionId: row.4, integrationId: row.5,
                                model: row.6, status: row.7, error: row.8))
        }
        return events
    }

    /// The events a replay covers: one event, or every event of a filter (its status too), oldest first, at most
    /// `limit`; with their bodies when `bodies`. A replay's confirmation lists exactly what the replay then takes.
    public static func replayable(
        _ filter: Filter, id: Int64?, bodies: Bool, on connection: PostgresConnection, logger: Logger
    ) async throws -> [(event: Event, body: String?)] {
        let rows = try await connection.query("""
            SELECT id, received_at, type, operation, connection_id, integration_id, model, status, error, CASE WHEN \(bodies) THEN raw_body END
            FROM webhook_events
            WHERE (\(id)::bigint IS NULL OR id = \(id)) AND (\(filter.type)::text IS NULL OR type = \(filter.type))
              AND (\(filter.status)::text IS NULL OR status = \(filter.status))
              AND (\(filter.connectionId)::text IS NULL OR connection_id = \(filter.connectionId))
              AND (\(filter.integrationId)::text IS NULL OR integration_id = \(filter.integrationId))
              AND (\(filter.since)::timestamptz IS NULL OR received_at >= \(filter.since)) AND (\(filter.until)::timestamptz IS NULL OR received_at < \(filter.until))
            ORDER BY received_at, id LIMIT \(filter.limit)
            """, logger: logger)
        var events: [(Event, String?)] = []
        for try await row in rows.decode((Int64, Date, String, String?, String?, String?, String?, String, String?, String?).self) {
            events.append((Event(id: row.0, receivedAt: row.1, type: row.2, operation: row.3, connectionId: row.4, integrationId: row.5,
                                 model: row.6, status: row.7, error: row.8), row.9))
        }
        return events.map { (event: $0.0, body: $0.1) }
    }

    public static func markReplayed(ids: [Int64], on connection: PostgresConnection, logger: Logger) async throws {
        guard !ids.isEmpty else { return }
        try await connection.query("""
            UPDATE webhook_events SET status = 'received', error = NULL, processed_at = NULL WHERE id = ANY(\(ids)::int8[])
            """, logger: logger)
    }
}

extension WebhookEventsTable {
    /// One stored webhook with its body and the job that handles it.
    public struct Detail: Sendable, Equatable {
        public var event: Event
        public var rawBody: String
        public var jobId: Int64?
        public var processedAt: Date?
    }

    public static func detail(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> Detail? {
        let rows = try await connection.query("""
            SELECT id, received_at, type, operation, connection_id, integration_id, model, status, error, raw_body, job_id, processed_at
            FROM webhook_events WHERE id = \(id)
            """, logger: logger)
        for try await row in rows.decode((Int64, Date, String, String?, String?, String?, String?, String, String?, String, Int64?, Date?).self) {
            let event = Event(id: row.0, receivedAt: row.1, type: row.2, operation: row.3, connectionId: row.4, integrationId: row.5,
                              model: row.6, status: row.7, error: row.8)
            return Detail(event: event, rawBody: row.9, jobId: row.10, processedAt: row.11)
        }
        return nil
    }

    /// Webhooks received per minute since `since` (minutes without any are absent).
    public static func perMinute(since: Date, on connection: PostgresConnection, logger: Logger) async throws -> [(minute: Date, count: Int)] {
        let rows = try await connection.query("""
            SELECT date_trunc('minute', received_at), count(*)::int FROM webhook_events
            WHERE received_at >= \(since) GROUP BY 1 ORDER BY 1
            """, logger: logger)
        var minutes: [(Date, Int)] = []
        for try await row in rows.decode((Date, Int).self) { minutes.append(row) }
        return minutes.map { (minute: $0.0, count: $0.1) }
    }

    /// Per connection, the oldest sync webhook not yet handled: the change Nango reported that we have not synced.
    public static func oldestUnsynced(on connection: PostgresConnection, logger: Logger) async throws -> [ConnectionIdentity: Date] {
        let rows = try await connection.query("""
            SELECT integration_id, connection_id, min(received_at) FROM webhook_events
            WHERE status IN ('received', 'processing') AND type = 'sync' AND integration_id IS NOT NULL AND connection_id IS NOT NULL
            GROUP BY 1, 2
            """, logger: logger)
        var oldest: [ConnectionIdentity: Date] = [:]
        for try await (integration, connectionId, at) in rows.decode((String, String, Date).self) {
            oldest[ConnectionIdentity(integrationId: integration, connectionId: connectionId)] = at
        }
        return oldest
    }

    /// The newest event's id: what the console's live view watches for arrivals.
    public static func newestId(on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await connection.query("SELECT COALESCE(max(id), 0) FROM webhook_events", logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        return 0
    }
}
