import Logging
import PostgresNIO

/// SQL for `webhook_events`, the inbox.
public enum WebhookEventsTable {
    /// How long identical bytes count as a redelivery. Nango's retries span under two minutes
    /// (3 attempts, 3 s and 6 s apart, 20 s timeouts); identical bytes later are a new event.
    public static let redeliveryWindow = "1 hour"

    /// Inserts the event unless the same bytes arrived within the window; nil for a repeat.
    /// The unique index decides between concurrent identical deliveries, not a prior read.
    public static func insert(_ event: InboxEvent, status: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        // An older event with the same bytes steps aside (its key gets its id appended), so the
        // unique key covers only the redelivery window.
        try await connection.query("""
            UPDATE webhook_events SET dedupe_key = dedupe_key || ':' || id
            WHERE dedupe_key = \(event.dedupeKey) AND received_at < now() - \(redeliveryWindow)::interval
            """, logger: logger)
        let rows = try await connection.query("""
            INSERT INTO webhook_events (type, operation, success, connection_id, integration_id, provider, model, sync_name,
                                        dedupe_key, raw_body, status)
            VALUES (\(event.type), \(event.operation), \(event.success), \(event.connectionId), \(event.integrationId),
                    \(event.provider), \(event.model), \(event.syncName), \(event.dedupeKey), \(event.rawBody), \(status))
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        return nil
    }

    public static func count(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("SELECT count(*)::int FROM webhook_events", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}

extension WebhookEventsTable {
    /// Retention: handled events older than `age` go; unhandled ones stay until handled.
    public static func deleteHandled(olderThan age: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("""
            DELETE FROM webhook_events
            WHERE received_at < now() - make_interval(secs => \(Double(age.components.seconds)))
              AND status IN ('processed', 'ignored')
              AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = webhook_events.id AND j.status IN ('queued', 'failed', 'running', 'dead'))
            RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }
}

extension WebhookEventsTable {
    /// The sync names Nango reported for a connection's models (its sync webhooks carry both).
    public static func syncNames(connectionId: String, models: [String], on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        let rows = try await connection.query("""
            SELECT DISTINCT sync_name FROM webhook_events
            WHERE type = 'sync' AND connection_id = \(connectionId) AND model = ANY(\(models)::text[]) AND sync_name IS NOT NULL
            ORDER BY sync_name
            """, logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        return names
    }
}
