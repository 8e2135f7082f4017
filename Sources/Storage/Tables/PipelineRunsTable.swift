import Foundation
import Logging
import PostgresNIO

/// One pipeline run with its counts.
public typealias PipelineRun = PipelineRunsTable.Run

/// SQL for `pipeline_runs`.
public enum PipelineRunsTable {
    public struct Totals: Sendable, Equatable {
        public var fetched = 0
        public var upserted = 0
        public var unchanged = 0
        public var deleted = 0
        public var quarantined = 0
        /// Pruned records (payload emptied by Nango) we never stored: nothing to write, counted.
        public var prunedSkipped = 0

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
                   unchanged = unchanged + \(totals.unchanged), deleted = deleted + \(totals.deleted), quarantined = quarantined + \(totals.quarantined),
                   pruned_skipped = pruned_skipped + \(totals.prunedSkipped)
            WHERE id = \(runId)
            """, logger: logger)
    }

    /// Ends the runs of one job (one a pipeline reading its model), in one statement.
    public static func finish(runIds: [Int64], outcome: RunOutcome, error: String?, on connection: PostgresConnection, logger: Logger) async throws {
        guard !runIds.isEmpty else { return }
        try await connection.query("""
            UPDATE pipeline_runs SET finished_at = now(), outcome = \(outcome.rawValue), error = \(error),
                   duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int
            WHERE id = ANY(\(runIds)::int8[])
            """, logger: logger)
    }

    public struct Run: Sendable, Equatable {
        public var id: Int64
        public var pipeline: String
        public var fetched: Int
        public var upserted: Int
        public var unchanged: Int
        public var deleted: Int
        public var quarantined: Int
        public var prunedSkipped: Int
        public var outcome: String
        public var error: String?
    }

    public static func recent(companyId: UUID, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [Run] {
        let rows = try await connection.query("""
            SELECT id, pipeline, fetched, upserted, unchanged, deleted, quarantined, pruned_skipped, outcome, error FROM pipeline_runs
            WHERE company_id = \(companyId) ORDER BY id DESC LIMIT \(limit)
            """, logger: logger)
        return try await runs(rows)
    }

    /// The runs a job made (a sync retried runs once an attempt).
    public static func made(byJob jobId: Int64, on connection: PostgresConnection, logger: Logger) async throws -> [Run] {
        let rows = try await connection.query("""
            SELECT id, pipeline, fetched, upserted, unchanged, deleted, quarantined, pruned_skipped, outcome, error FROM pipeline_runs
            WHERE job_id = \(jobId) ORDER BY id DESC LIMIT 50
            """, logger: logger)
        return try await runs(rows)
    }

    static func runs(_ rows: PostgresRowSequence) async throws -> [Run] {
        var runs: [Run] = []
        for try await row in rows.decode((Int64, String, Int, Int, Int, Int, Int, Int, String, String?).self) {
            runs.append(Run(id: row.0, pipeline: row.1, fetched: row.2, upserted: row.3, unchanged: row.4, deleted: row.5,
                            quarantined: row.6, prunedSkipped: row.7, outcome: row.8, error: row.9))
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

extension PipelineRunsTable {
    /// Records fetched per minute since `since`, over every run: the overview's sync throughput.
    public static func fetchedPerMinute(since: Date, on connection: PostgresConnection, logger: Logger) async throws -> [(minute: Date, count: Int)] {
        let rows = try await connection.query("""
            SELECT date_trunc('minute', started_at), sum(fetched)::int FROM pipeline_runs
            WHERE started_at >= \(since) GROUP BY 1 ORDER BY 1
            """, logger: logger)
        var minutes: [(Date, Int)] = []
        for try await row in rows.decode((Date, Int).self) { minutes.append(row) }
        return minutes.map { (minute: $0.0, count: $0.1) }
    }

    /// Records fetched per company since `since`.
    public static func fetchedByCompany(since: Date, on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Int] {
        let rows = try await connection.query("""
            SELECT company_id, sum(fetched)::int FROM pipeline_runs
            WHERE company_id IS NOT NULL AND started_at >= \(since) GROUP BY 1
            """, logger: logger)
        var totals: [UUID: Int] = [:]
        for try await (company, total) in rows.decode((UUID, Int).self) { totals[company] = total }
        return totals
    }
}
