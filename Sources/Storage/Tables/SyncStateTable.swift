import Logging
import PostgresNIO

/// SQL for `sync_state`, one checkpoint per (connection, model).
public enum SyncStateTable {
    /// Records Nango's report of a failed sync run on each of its models.
    public static func recordNangoFailure(_ failure: SyncFailureRecord, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO sync_state (connection_id, model, integration_id, company_id, nango_sync_status, last_error, last_error_at)
            SELECT \(failure.connectionId), m.model, \(failure.integrationId),
                   (SELECT id FROM companies WHERE connection_id = \(failure.connectionId)), 'failure', \(failure.error), now()
            FROM UNNEST(\(failure.models)::text[]) AS m(model)
            ON CONFLICT (connection_id, model) DO UPDATE
            SET nango_sync_status = 'failure', last_error = EXCLUDED.last_error, last_error_at = now(), updated_at = now()
            """, logger: logger)
    }
}
