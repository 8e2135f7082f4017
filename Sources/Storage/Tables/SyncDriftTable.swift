import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// A drift as stored.
public struct DriftRecord: Sendable, Equatable {
    public var companyId: UUID
    public var model: String
    public var identity: ConnectionIdentity
    public var state: DriftState
    public var nangoCount: Int
    public var ourCount: Int
    public var detectedAt: Date
    public var healedAt: Date?
    public var rereadJobId: Int64?
    public var rereadNango: Int?
    public var rereadOurs: Int?
    public var notifiedAt: Date?
}

/// When our last complete read of a (connection, model) began, and whether a read is running now.
public struct LastRead: Sendable, Equatable {
    public var completeReadStartedAt: Date?
    public var running: Bool
}

/// SQL for `sync_drift` (and the drift check's reads of what we hold).
public enum SyncDriftTable {
    static let columns = """
        company_id, model, integration_id, connection_id, state, nango_count, our_count, detected_at, healed_at, reread_job_id,
        reread_nango, reread_ours, notified_at
        """

    static func decode(_ rows: [PostgresRow]) throws -> [DriftRecord] {
        try rows.map { row in
            let (company, model, integration, connection, state, nango, ours, detected, healed, job, rereadNango, rereadOurs, notified) =
                try row.decode((UUID, String, String, String, String, Int, Int, Date, Date?, Int64?, Int?, Int?, Date?).self)
            return DriftRecord(
                companyId: company, model: model, identity: ConnectionIdentity(integrationId: integration, connectionId: connection),
                state: DriftState(rawValue: state) ?? .open, nangoCount: nango, ourCount: ours, detectedAt: detected, healedAt: healed,
                rereadJobId: job, rereadNango: rereadNango, rereadOurs: rereadOurs, notifiedAt: notified)
        }
    }

    /// The distinct Nango record ids of `model` we hold: live rows of `tables` read from it, open quarantine entries,
    /// and records served pruned that we never stored.
    public static func heldCount(companyId: UUID, model: String, tables: [Resource], on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = tables.filter { $0 != .companies }.map { table in
            "SELECT raw->>'id' FROM \(table.rawValue) WHERE company_id = $1 AND source_model = $2 AND deleted_at IS NULL"
        }
        var bindings = PostgresBindings()
        bindings.append(companyId)
        bindings.append(model)
        let sql = """
            SELECT count(*)::int FROM (
                \((rows + [
                    "SELECT raw->>'id' FROM quarantine WHERE company_id = $1 AND model = $2 AND status = 'open'",
                    "SELECT record_id FROM pruned_records WHERE company_id = $1 AND model = $2",
                ]).joined(separator: "\n    UNION "))
            ) held
            """
        let result = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await count in result.decode(Int.self) { return count }
        return 0
    }

    /// Our last complete read (an incremental run that succeeded, or a finished full re-read) and whether one runs now.
    public static func lastRead(_ identity: ConnectionIdentity, model: String, on connection: PostgresConnection, logger: Logger) async throws -> LastRead {
        let rows = try await connection.query("""
            SELECT greatest(
                       (SELECT last_run_at FROM sync_state s WHERE s.integration_id = \(identity.integrationId)
                          AND s.connection_id = \(identity.connectionId) AND s.model = \(model) AND s.last_success_at >= s.last_run_at),
                       (SELECT max(started_at) FROM full_resyncs f WHERE f.integration_id = \(identity.integrationId)
                          AND f.connection_id = \(identity.connectionId) AND f.model = \(model) AND f.finished_at IS NOT NULL)),
                   EXISTS (SELECT 1 FROM sync_state s WHERE s.integration_id = \(identity.integrationId) AND s.connection_id = \(identity.connectionId)
                             AND s.model = \(model) AND s.last_run_at > coalesce(s.last_success_at, '-infinity')
                             AND s.last_run_at > coalesce(s.last_error_at, '-infinity'))
                   OR EXISTS (SELECT 1 FROM full_resyncs f WHERE f.integration_id = \(identity.integrationId)
                             AND f.connection_id = \(identity.connectionId) AND f.model = \(model) AND f.finished_at IS NULL)
            """, logger: logger)
        for try await (started, running) in rows.decode((Date?, Bool).self) { return LastRead(completeReadStartedAt: started, running: running) }
        return LastRead(completeReadStartedAt: nil, running: false)
    }

    public static func get(companyId: UUID, model: String, on connection: PostgresConnection, logger: Logger) async throws -> DriftRecord? {
        try decode(try await connection.query("""
            SELECT \(unescaped: columns) FROM sync_drift WHERE company_id = \(companyId) AND model = \(model) FOR UPDATE
            """, logger: logger).collect()).first
    }

    /// A mismatch found: the drift is open with these counts (detected now when it was not open before).
    public static func open(
        companyId: UUID, model: String, identity: ConnectionIdentity, nango: Int, ours: Int, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            INSERT INTO sync_drift (company_id, model, integration_id, connection_id, state, nango_count, our_count)
            VALUES (\(companyId), \(model), \(identity.integrationId), \(identity.connectionId), 'open', \(nango), \(ours))
            ON CONFLICT (company_id, model) DO UPDATE SET
                detected_at = CASE WHEN sync_drift.state = 'healed' THEN now() ELSE sync_drift.detected_at END,
                notified_at = CASE WHEN sync_drift.state = 'healed' THEN NULL ELSE sync_drift.notified_at END,
                reread_job_id = CASE WHEN sync_drift.state = 'healed' THEN NULL ELSE sync_drift.reread_job_id END,
                reread_nango = CASE WHEN sync_drift.state = 'healed' THEN NULL ELSE sync_drift.reread_nango END,
                reread_ours = CASE WHEN sync_drift.state = 'healed' THEN NULL ELSE sync_drift.reread_ours END,
                state = 'open', healed_at = NULL, nango_count = EXCLUDED.nango_count, our_count = EXCLUDED.our_count, updated_at = now()
            """, logger: logger)
    }

    public static func markReread(companyId: UUID, model: String, jobId: Int64, nango: Int, ours: Int, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE sync_drift SET reread_job_id = \(jobId), reread_nango = \(nango), reread_ours = \(ours), updated_at = now()
            WHERE company_id = \(companyId) AND model = \(model)
            """, logger: logger)
    }

    public static func markNotified(companyId: UUID, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE sync_drift SET notified_at = now(), updated_at = now() WHERE company_id = \(companyId) AND model = \(model)
            """, logger: logger)
    }

    public static func heal(companyId: UUID, model: String, nango: Int, ours: Int, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE sync_drift SET state = 'healed', healed_at = now(), nango_count = \(nango), our_count = \(ours), updated_at = now()
            WHERE company_id = \(companyId) AND model = \(model) AND state = 'open'
            """, logger: logger)
    }

    /// The `sync.drift_detected` message, in the transaction that records the drift (migration 0024's outbox).
    public static func announce(_ drift: DriftRecord, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO outbound_events (type, company_id, data) VALUES ('sync.drift_detected', \(drift.companyId), jsonb_build_object(
                'company_id', \(drift.companyId), 'model', \(drift.model)::text, 'integration_id', \(drift.identity.integrationId)::text,
                'connection_id', \(drift.identity.connectionId)::text, 'nango_count', \(drift.nangoCount)::bigint, 'our_count', \(drift.ourCount)::bigint,
                'detected_at', \(drift.detectedAt)::timestamptz))
            """, logger: logger)
        try await connection.query("SELECT pg_notify('changes', \(drift.companyId.uuidString.lowercased()))", logger: logger)
    }

    /// What the last check of a (connection, model) found.
    public static func recordCheck(_ identity: ConnectionIdentity, model: String, result: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE sync_state SET drift_checked_at = now(), drift_check_result = \(result)
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
            """, logger: logger)
    }

    /// Drifts in `state` (every state when nil), oldest detected first, a keyset page after `after`.
    public static func list(
        state: DriftState?, after: (detectedAt: Date, companyId: UUID, model: String)?, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [DriftRecord] {
        try decode(try await connection.query("""
            SELECT \(unescaped: columns) FROM sync_drift
            WHERE (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
              AND (\(after?.detectedAt)::timestamptz IS NULL OR (detected_at, company_id, model) > (\(after?.detectedAt), \(after?.companyId), \(after?.model)))
            ORDER BY detected_at, company_id, model LIMIT \(limit)
            """, logger: logger).collect())
    }
}
