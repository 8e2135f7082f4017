import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// Records the pipeline rejected, as one page's worth of column arrays.
public struct QuarantineRows: Sendable {
    public var externalIds: [String] = []
    public var recordKeys: [String] = []
    /// `[{"field": …, "message": …}]` per record.
    public var reasons: [String] = []
    public var raw: [String] = []

    public init() {}

    public var count: Int { recordKeys.count }
}

/// SQL for `quarantine`.
public enum QuarantineTable {
    /// One open entry per (pipeline, connection, record): a record rejected again refreshes its entry.
    public static func upsert(
        _ rows: QuarantineRows, pipeline: String, companyId: UUID, connectionId: String, model: String, runId: Int64?,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard rows.count > 0 else { return }
        try await connection.query("""
            INSERT INTO quarantine (pipeline, company_id, connection_id, model, external_id, record_key, reasons, raw, run_id)
            SELECT \(pipeline), \(companyId), \(connectionId), \(model), NULLIF(q.external_id, ''), q.record_key, q.reasons::jsonb, q.raw::jsonb, \(runId)
            FROM UNNEST(\(rows.externalIds)::text[], \(rows.recordKeys)::text[], \(rows.reasons)::text[], \(rows.raw)::text[])
                 AS q(external_id, record_key, reasons, raw)
            ON CONFLICT (pipeline, connection_id, record_key) WHERE status = 'open' DO UPDATE SET
                reasons = EXCLUDED.reasons, raw = EXCLUDED.raw, run_id = EXCLUDED.run_id, last_seen_at = now()
            """, logger: logger)
    }

    /// Records that now pass close their open entries.
    public static func resolve(
        recordKeys: [String], pipeline: String, connectionId: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !recordKeys.isEmpty else { return }
        try await connection.query("""
            UPDATE quarantine SET status = 'resolved', resolved_at = now()
            WHERE pipeline = \(pipeline) AND connection_id = \(connectionId) AND status = 'open' AND record_key = ANY(\(recordKeys)::text[])
            """, logger: logger)
    }

    public struct Entry: Sendable, Equatable, Codable {
        public var id: Int64
        public var pipeline: String
        public var connectionId: String
        public var externalId: String?
        /// `[{"field": "email" | null, "message": "..."}]`: every reason the record failed.
        public var reasons: JSONValue
        public var status: String

        enum CodingKeys: String, CodingKey {
            case id, pipeline, reasons, status
            case connectionId = "connection_id"
            case externalId = "external_id"
        }
    }
}

/// SQL for `pipeline_runs`.
public enum PipelineRunsTable {
    public struct Totals: Sendable, Equatable {
        public var fetched = 0
        public var upserted = 0
        public var unchanged = 0
        public var deleted = 0
        public var quarantined = 0

        public init() {}
    }

    public static func start(
        pipeline: String, pipelineHash: String, companyId: UUID, connectionId: String, model: String, jobId: Int64?,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Int64 {
        let rows = try await connection.query("""
            INSERT INTO pipeline_runs (pipeline, pipeline_hash, company_id, connection_id, model, job_id)
            VALUES (\(pipeline), \(pipelineHash), \(companyId), \(connectionId), \(model), \(jobId))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw StorageError.noRowReturned("pipeline_runs insert")
    }

    /// Adds a committed page's counts (in the page's transaction, so the run row matches what landed).
    public static func add(_ totals: Totals, to runId: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE pipeline_runs SET fetched = fetched + \(totals.fetched), upserted = upserted + \(totals.upserted),
                   unchanged = unchanged + \(totals.unchanged), deleted = deleted + \(totals.deleted), quarantined = quarantined + \(totals.quarantined)
            WHERE id = \(runId)
            """, logger: logger)
    }

    public static func finish(runId: Int64, outcome: String, error: String?, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE pipeline_runs SET finished_at = now(), outcome = \(outcome), error = \(error),
                   duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int
            WHERE id = \(runId)
            """, logger: logger)
    }

    public struct Run: Sendable, Equatable, Codable {
        public var id: Int64
        public var pipeline: String
        public var fetched: Int
        public var upserted: Int
        public var unchanged: Int
        public var deleted: Int
        public var quarantined: Int
        public var outcome: String
        public var error: String?
    }

    public static func recent(connectionId: String, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [Run] {
        let rows = try await connection.query("""
            SELECT id, pipeline, fetched, upserted, unchanged, deleted, quarantined, outcome, error FROM pipeline_runs
            WHERE connection_id = \(connectionId) ORDER BY id DESC LIMIT \(limit)
            """, logger: logger)
        var runs: [Run] = []
        for try await row in rows.decode((Int64, String, Int, Int, Int, Int, Int, String, String?).self) {
            runs.append(Run(id: row.0, pipeline: row.1, fetched: row.2, upserted: row.3, unchanged: row.4, deleted: row.5,
                            quarantined: row.6, outcome: row.7, error: row.8))
        }
        return runs
    }

    public static func deleteFinished(olderThan age: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("""
            DELETE FROM pipeline_runs WHERE finished_at < now() - make_interval(secs => \(Double(age.components.seconds))) RETURNING id
            """, logger: logger)
        return try await rows.count()
    }
}

extension QuarantineTable {
    public static func list(
        pipeline: String?, companyId: UUID?, status: String, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Entry] {
        let rows = try await connection.query("""
            SELECT id, pipeline, connection_id, external_id, reasons::text, status FROM quarantine
            WHERE (\(pipeline)::text IS NULL OR pipeline = \(pipeline)) AND (\(companyId)::uuid IS NULL OR company_id = \(companyId))
              AND status = \(status)
            ORDER BY last_seen_at DESC, id DESC LIMIT \(limit)
            """, logger: logger)
        var entries: [Entry] = []
        for try await row in rows.decode((Int64, String, String, String?, String, String).self) {
            entries.append(Entry(id: row.0, pipeline: row.1, connectionId: row.2, externalId: row.3,
                                 reasons: (try? JSONValue.parse(row.4.utf8)) ?? .string(row.4), status: row.5))
        }
        return entries
    }

    /// The (integration, connection, model) pairs with open entries, for a re-run after a pipeline fix.
    public static func openSources(
        pipeline: String?, companyId: UUID?, on connection: PostgresConnection, logger: Logger
    ) async throws -> [(integration: String, connectionId: String, model: String)] {
        let rows = try await connection.query("""
            SELECT DISTINCT c.integration_id, q.connection_id, q.model FROM quarantine q JOIN companies c ON c.connection_id = q.connection_id
            WHERE q.status = 'open' AND (\(pipeline)::text IS NULL OR q.pipeline = \(pipeline)) AND (\(companyId)::uuid IS NULL OR q.company_id = \(companyId))
            """, logger: logger)
        var sources: [(String, String, String)] = []
        for try await row in rows.decode((String, String, String).self) { sources.append(row) }
        return sources.map { (integration: $0.0, connectionId: $0.1, model: $0.2) }
    }
}

extension SyncStateTable {
    /// Re-reads a model from the start on its next sync (a re-run after a pipeline fix).
    public static func resetCursor(connectionId: String, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("UPDATE sync_state SET cursor = NULL, updated_at = now() WHERE connection_id = \(connectionId) AND model = \(model)", logger: logger)
    }

    public struct State: Sendable, Codable, Equatable {
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

        enum CodingKeys: String, CodingKey {
            case model, cursor
            case recordsFetched = "records_fetched"
            case recordsUpserted = "records_upserted"
            case recordsDeleted = "records_deleted"
            case recordsQuarantined = "records_quarantined"
            case lastRunAt = "last_run_at"
            case lastSuccessAt = "last_success_at"
            case lastError = "last_error"
            case nangoSyncStatus = "nango_sync_status"
        }
    }

    public static func states(connectionId: String, on connection: PostgresConnection, logger: Logger) async throws -> [State] {
        let rows = try await connection.query("""
            SELECT model, cursor, records_fetched::int, records_upserted::int, records_deleted::int, records_quarantined::int,
                   last_run_at, last_success_at, last_error, nango_sync_status
            FROM sync_state WHERE connection_id = \(connectionId) ORDER BY model
            """, logger: logger)
        var states: [State] = []
        for try await row in rows.decode((String, String?, Int, Int, Int, Int, Date?, Date?, String?, String?).self) {
            states.append(State(model: row.0, cursor: row.1, recordsFetched: row.2, recordsUpserted: row.3, recordsDeleted: row.4,
                                recordsQuarantined: row.5, lastRunAt: row.6, lastSuccessAt: row.7, lastError: row.8, nangoSyncStatus: row.9))
        }
        return states
    }
}
