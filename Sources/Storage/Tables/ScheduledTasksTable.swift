import Foundation
import Logging
import PostgresNIO

/// SQL for `scheduled_tasks`: a run is claimed by moving `next_run_at` forward in one statement,
/// so among several instances exactly one starts each run.
public enum ScheduledTasksTable {
    public static func claim(name: String, every interval: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.query("INSERT INTO scheduled_tasks (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING", logger: logger)
        let rows = try await connection.query("""
            UPDATE scheduled_tasks SET next_run_at = now() + make_interval(secs => \(Double(interval.components.seconds))),
                   last_started_at = now(), runs = runs + 1
            WHERE name = \(name) AND next_run_at <= now()
            RETURNING name
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    public static func finish(name: String, outcome: String, error: String?, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE scheduled_tasks SET last_finished_at = now(), last_outcome = \(outcome), last_error = \(error) WHERE name = \(name)
            """, logger: logger)
    }

    /// Makes a task due now (tests, and the admin API's "run now").
    public static func makeDue(name: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO scheduled_tasks (name, next_run_at) VALUES (\(name), now())
            ON CONFLICT (name) DO UPDATE SET next_run_at = now()
            """, logger: logger)
    }
}

extension JobsTable {
    /// Reconciliation: a sync job for every active company's (connection, model) among `sources` whose last
    /// run is older than `maxAge` (or that never ran), unless one is already waiting or running. One statement.
    public static func enqueueStaleSyncs(
        integrations: [String], models: [String], maxAge: Duration, maxAttempts: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        guard !integrations.isEmpty else { return 0 }
        let rows = try await connection.query("""
            INSERT INTO jobs (kind, payload, concurrency_key, max_attempts)
            SELECT 'sync.run',
                   jsonb_build_object('connection_id', c.connection_id, 'integration_id', c.integration_id, 'model', s.model,
                                      'reason', 'reconciliation'),
                   'sync:' || c.integration_id || ':' || c.connection_id || ':' || s.model, \(maxAttempts)
            FROM companies c
            JOIN UNNEST(\(integrations)::text[], \(models)::text[]) AS s(integration_id, model) ON s.integration_id = c.integration_id
            LEFT JOIN sync_state st ON st.connection_id = c.connection_id AND st.model = s.model
            WHERE c.status = 'active'
              AND (st.last_run_at IS NULL OR st.last_run_at < now() - make_interval(secs => \(Double(maxAge.components.seconds))))
              AND NOT EXISTS (
                  SELECT 1 FROM jobs j
                  WHERE j.concurrency_key = 'sync:' || c.integration_id || ':' || c.connection_id || ':' || s.model
                    AND j.status IN ('queued', 'failed', 'running'))
            RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    /// Credential refresh: a `connection.refresh` job for every active company whose token expires within `window`.
    public static func enqueueCredentialRefreshes(
        within window: Duration, all: Bool, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Int64] {
        let rows = try await connection.query("""
            INSERT INTO jobs (kind, payload, concurrency_key, max_attempts)
            SELECT 'connection.refresh', jsonb_build_object('connection_id', c.connection_id, 'integration_id', c.integration_id),
                   'connection:' || c.integration_id || ':' || c.connection_id, 3
            FROM companies c JOIN connection_credentials cc ON cc.company_id = c.id
            WHERE c.status IN ('active', 'refresh_failed')
              AND (\(all) OR cc.expires_at < now() + make_interval(secs => \(Double(window.components.seconds))))
              AND NOT EXISTS (
                  SELECT 1 FROM jobs j WHERE j.kind = 'connection.refresh' AND j.status IN ('queued', 'failed', 'running')
                    AND j.concurrency_key = 'connection:' || c.integration_id || ':' || c.connection_id)
            RETURNING id
            """, logger: logger)
        var ids: [Int64] = []
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        return ids
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
