import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// Where an (integration, connection, model) sync stands.
public struct SyncCheckpoint: Sendable, Equatable {
    public var cursor: String?
    public var lastRunAt: Date?
    public var lastSuccessAt: Date?
    /// Bumped by every advance; an advance names the version it started from.
    public var version: Int64 = 0
}

/// One model's sync state as ops see it.
public typealias SyncModelState = SyncStateTable.State

/// SQL for `sync_state`, one checkpoint per (integration, connection, model).
public enum SyncStateTable {
    /// Records Nango's report of a failed sync run on each of its models.
    public static func recordNangoFailure(_ failure: SyncFailureRecord, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO sync_state (connection_id, model, integration_id, company_id, nango_sync_status, last_error, last_error_at)
            SELECT \(failure.identity.connectionId), m.model, \(failure.identity.integrationId),
                   (SELECT id FROM companies WHERE integration_id = \(failure.identity.integrationId) AND connection_id = \(failure.identity.connectionId)),
                   'failure', \(failure.error), now()
            FROM UNNEST(\(failure.models)::text[]) AS m(model)
            ON CONFLICT (integration_id, connection_id, model) DO UPDATE
            SET nango_sync_status = 'failure', last_error = EXCLUDED.last_error, last_error_at = now(), updated_at = now()
            """, logger: logger)
    }

    public static func checkpoint(_ identity: ConnectionIdentity, model: String, on connection: PostgresConnection, logger: Logger) async throws -> SyncCheckpoint? {
        let rows = try await connection.query("""
            SELECT cursor, last_run_at, last_success_at, checkpoint_version FROM sync_state
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
            """, logger: logger)
        for try await row in rows.decode((String?, Date?, Date?, Int64).self) {
            return SyncCheckpoint(cursor: row.0, lastRunAt: row.1, lastSuccessAt: row.2, version: row.3)
        }
        return nil
    }

    /// A run starts: the row exists from here on, so reconciliation sees the pair.
    public static func markRunStarted(
        _ identity: ConnectionIdentity, model: String, companyId: UUID, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            INSERT INTO sync_state (connection_id, model, integration_id, company_id, last_run_at)
            VALUES (\(identity.connectionId), \(model), \(identity.integrationId), \(companyId), now())
            ON CONFLICT (integration_id, connection_id, model) DO UPDATE SET last_run_at = now(), company_id = EXCLUDED.company_id, updated_at = now()
            """, logger: logger)
    }

    /// Moves the checkpoint past a committed page (called inside the page's transaction).
    /// Moves the checkpoint to `cursor` from the version the caller read (`expectedVersion`) and returns the new
    /// version; nil, moving nothing, when another run advanced it meanwhile (this one's view is stale).
    public static func advance(
        _ identity: ConnectionIdentity, model: String, cursor: String, expectedVersion: Int64, totals: PipelineRunsTable.Totals,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Int64? {
        let rows = try await connection.query("""
            UPDATE sync_state SET cursor = \(cursor), checkpoint_version = checkpoint_version + 1,
                   records_fetched = records_fetched + \(totals.fetched),
                   records_upserted = records_upserted + \(totals.upserted), records_deleted = records_deleted + \(totals.deleted),
                   records_quarantined = records_quarantined + \(totals.quarantined),
                   records_pruned_skipped = records_pruned_skipped + \(totals.prunedSkipped), updated_at = now()
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
              AND checkpoint_version = \(expectedVersion)
            RETURNING checkpoint_version
            """, logger: logger)
        for try await version in rows.decode(Int64.self) { return version }
        return nil
    }

    public static func markSucceeded(_ identity: ConnectionIdentity, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE sync_state SET last_success_at = now(), last_error = NULL, updated_at = now()
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
            """, logger: logger)
    }

    public static func markFailed(
        _ identity: ConnectionIdentity, model: String, error: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            UPDATE sync_state SET last_error = \(error), last_error_at = now(), updated_at = now()
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
            """, logger: logger)
    }
}

extension SyncStateTable {
    public struct State: Sendable, Equatable {
        public var model: String
        public var cursor: String?
        public var recordsFetched: Int
        public var recordsUpserted: Int
        public var recordsDeleted: Int
        public var recordsQuarantined: Int
        public var lastRunAt: Date?
        public var lastSuccessAt: Date?
        public var lastError: String?
        public var nangoSyncStatus: String?
    }

    public static func states(_ identity: ConnectionIdentity, on connection: PostgresConnection, logger: Logger) async throws -> [State] {
        let rows = try await connection.query("""
            SELECT model, cursor, records_fetched::int, records_upserted::int, records_deleted::int, records_quarantined::int,
                   last_run_at, last_success_at, last_error, nango_sync_status
            FROM sync_state WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) ORDER BY model
            """, logger: logger)
        var states: [State] = []
        for try await row in rows.decode((String, String?, Int, Int, Int, Int, Date?, Date?, String?, String?).self) {
            states.append(State(model: row.0, cursor: row.1, recordsFetched: row.2, recordsUpserted: row.3, recordsDeleted: row.4,
                                recordsQuarantined: row.5, lastRunAt: row.6, lastSuccessAt: row.7, lastError: row.8, nangoSyncStatus: row.9))
        }
        return states
    }
}

extension SyncStateTable {
    /// Reconciliation's question: each active company's (model) among `sources` whose last run is older than
    /// `maxAge`, or that never ran.
    public static func stale(
        sources: [SourceSelector], maxAge: Duration, on connection: PostgresConnection, logger: Logger
    ) async throws -> [(identity: ConnectionIdentity, model: String)] {
        guard !sources.isEmpty else { return [] }
        let columns = sources.unnestColumns
        let rows = try await connection.query("""
            SELECT DISTINCT c.integration_id, c.connection_id, s.model
            FROM companies c
            JOIN UNNEST(\(columns.integrations)::text[], \(columns.providers)::text[], \(columns.models)::text[]) AS s(integration_id, provider, model)
              ON s.integration_id = c.integration_id OR s.provider = c.provider
            LEFT JOIN sync_state st ON st.integration_id = c.integration_id AND st.connection_id = c.connection_id AND st.model = s.model
            WHERE c.status = \(CompanyStatus.active.rawValue)
              AND (st.last_run_at IS NULL OR st.last_run_at < now() - make_interval(secs => \(Double(maxAge.components.seconds))))
            ORDER BY c.integration_id, c.connection_id, s.model
            """, logger: logger)
        var stale: [(ConnectionIdentity, String)] = []
        for try await (integration, connectionId, model) in rows.decode((String, String, String).self) {
            stale.append((ConnectionIdentity(integrationId: integration, connectionId: connectionId), model))
        }
        return stale.map { (identity: $0.0, model: $0.1) }
    }
}
