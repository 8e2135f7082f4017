import Foundation
import Logging
import PostgresNIO

/// Where a (connection, model) sync stands.
public struct SyncCheckpoint: Sendable, Equatable {
    public var cursor: String?
    public var lastRunAt: Date?
    public var lastSuccessAt: Date?
}

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

    public static func checkpoint(connectionId: String, model: String, on connection: PostgresConnection, logger: Logger) async throws -> SyncCheckpoint? {
        let rows = try await connection.query("""
            SELECT cursor, last_run_at, last_success_at FROM sync_state WHERE connection_id = \(connectionId) AND model = \(model)
            """, logger: logger)
        for try await row in rows.decode((String?, Date?, Date?).self) {
            return SyncCheckpoint(cursor: row.0, lastRunAt: row.1, lastSuccessAt: row.2)
        }
        return nil
    }

    /// A run starts: the row exists from here on, so reconciliation sees the pair.
    public static func markRunStarted(
        connectionId: String, model: String, integrationId: String, companyId: UUID, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            INSERT INTO sync_state (connection_id, model, integration_id, company_id, last_run_at)
            VALUES (\(connectionId), \(model), \(integrationId), \(companyId), now())
            ON CONFLICT (connection_id, model) DO UPDATE SET last_run_at = now(), company_id = EXCLUDED.company_id, updated_at = now()
            """, logger: logger)
    }

    /// Moves the checkpoint past a committed page (called inside the page's transaction).
    public static func advance(
        connectionId: String, model: String, cursor: String, fetched: Int, upserted: Int, deleted: Int, quarantined: Int,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            UPDATE sync_state SET cursor = \(cursor), records_fetched = records_fetched + \(fetched),
                   records_upserted = records_upserted + \(upserted), records_deleted = records_deleted + \(deleted),
                   records_quarantined = records_quarantined + \(quarantined), updated_at = now()
            WHERE connection_id = \(connectionId) AND model = \(model)
            """, logger: logger)
    }

    public static func markSucceeded(connectionId: String, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE sync_state SET last_success_at = now(), last_error = NULL, updated_at = now()
            WHERE connection_id = \(connectionId) AND model = \(model)
            """, logger: logger)
    }

    public static func markFailed(connectionId: String, model: String, error: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE sync_state SET last_error = \(error), last_error_at = now(), updated_at = now()
            WHERE connection_id = \(connectionId) AND model = \(model)
            """, logger: logger)
    }
}
