import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// What ops see of the queue and do with it: listings, a retry, the retention cleanup.
extension JobsTable {
    /// Puts a dead (or failed) job back in the queue with fresh attempts. When a job of its waiting key is queued
    /// already, that one takes this one's payload and events and this one ends `cancelled` (its error kept).
    public static func retry(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await arbitratingWaitingKey { try await retryOnce(id: id, on: connection, logger: logger) }
    }

    static func retryOnce(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("""
            WITH me AS (
                SELECT id, waiting_key, payload FROM jobs WHERE id = \(id) AND status IN ('dead', 'failed', 'cancelled')
            ), merged AS (
                UPDATE jobs w SET payload = me.payload || w.payload, updated_at = now()
                FROM me WHERE w.waiting_key = me.waiting_key AND w.status = 'queued' AND w.id <> me.id
                RETURNING w.id
            ), relinked AS (
                UPDATE webhook_events SET job_id = (SELECT id FROM merged) WHERE job_id = \(id) AND EXISTS (SELECT 1 FROM merged)
            )
            UPDATE jobs SET
                status = CASE WHEN EXISTS (SELECT 1 FROM merged) THEN 'cancelled' ELSE 'queued' END,
                attempts = CASE WHEN EXISTS (SELECT 1 FROM merged) THEN attempts ELSE 0 END,
                finished_at = CASE WHEN EXISTS (SELECT 1 FROM merged) THEN now() END,
                last_error = CASE WHEN EXISTS (SELECT 1 FROM merged)
                                  THEN 'merged into waiting job ' || (SELECT id FROM merged) || COALESCE('; before: ' || last_error, '')
                                  ELSE last_error END,
                run_at = now(), updated_at = now()
            WHERE id = (SELECT id FROM me)
            RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    static let recordColumns = "id, kind, status, attempts, max_attempts, run_at, last_error, concurrency_key"

    static func records(_ rows: PostgresRowSequence) async throws -> [JobRecord] {
        var jobs: [JobRecord] = []
        for try await row in rows.decode((Int64, String, String, Int, Int, Date, String?, String?).self) {
            jobs.append(JobRecord(id: row.0, kind: row.1, status: row.2, attempts: row.3, maxAttempts: row.4, runAt: row.5, lastError: row.6, concurrencyKey: row.7))
        }
        return jobs
    }

    public static func find(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> JobRecord? {
        let rows = try await connection.query("""
            SELECT \(unescaped: recordColumns) FROM jobs WHERE id = \(id)
            """, logger: logger)
        return try await records(rows).first
    }

    public static func list(status: String?, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [JobRecord] {
        try await records(try await connection.query(listQuery(status: status, limit: limit), logger: logger))
    }

    /// Newest first: the primary key for every state, `jobs_status_id_idx` for one.
    static func listQuery(status: String?, limit: Int) -> PostgresQuery {
        """
        SELECT \(unescaped: recordColumns) FROM jobs
        WHERE \(status)::text IS NULL OR status = \(status)
        ORDER BY id DESC LIMIT \(limit)
        """
    }

    /// Deletes finished jobs older than `age`; returns how many. In batches of `batchSize`, each its own statement: one
    /// `DELETE` of a week of jobs would hold its locks and write its WAL in one go, and bloat what it read meanwhile.
    public static func deleteFinished(
        olderThan age: Duration, batchSize: Int = 1000, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await connection.query(deleteFinishedQuery(olderThan: age, limit: batchSize), logger: logger).count()
            total += deleted
            if deleted < batchSize { return total }
        }
    }

    /// One batch, oldest first along `jobs_finished_idx`. Every row that index holds past the cutoff is deletable, so
    /// a batch never walks over rows an earlier one left; a row another transaction holds is skipped, not waited on.
    static func deleteFinishedQuery(olderThan age: Duration, limit: Int) -> PostgresQuery {
        """
        WITH doomed AS (
            SELECT id FROM jobs WHERE status IN ('succeeded', 'cancelled')
              AND finished_at < now() - make_interval(secs => \(Double(age.components.seconds)))
            ORDER BY finished_at LIMIT \(limit)
            FOR UPDATE SKIP LOCKED
        )
        DELETE FROM jobs USING doomed WHERE jobs.id = doomed.id
        RETURNING jobs.id
        """
    }
}

/// One job as the console shows it: its record, its payload, each failed attempt and the events it handles.
public struct JobDetail: Sendable, Equatable {
    public struct Attempt: Sendable, Equatable {
        public var attempt: Int
        public var at: Date
        public var error: String
    }

    public var record: JobRecord
    public var payload: String
    public var errorHistory: [Attempt]
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var eventIds: [Int64]
    /// The pipeline runs it made, newest first.
    public var runs: [PipelineRun] = []
}

extension JobsTable {
    public static func detail(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> JobDetail? {
        guard let record = try await find(id: id, on: connection, logger: logger) else { return nil }
        let rows = try await connection.query("""
            SELECT payload::text, created_at, started_at, finished_at,
                   COALESCE((SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM webhook_events WHERE job_id = \(id) ORDER BY id LIMIT 100) e), '{}'),
                   (SELECT COALESCE(array_agg(COALESCE((h->>'attempt')::int, 0) ORDER BY n), '{}') FROM jsonb_array_elements(error_history) WITH ORDINALITY AS e(h, n)),
                   (SELECT COALESCE(array_agg(COALESCE((h->>'at')::timestamptz, 'epoch') ORDER BY n), '{}') FROM jsonb_array_elements(error_history) WITH ORDINALITY AS e(h, n)),
                   (SELECT COALESCE(array_agg(COALESCE(h->>'error', '') ORDER BY n), '{}') FROM jsonb_array_elements(error_history) WITH ORDINALITY AS e(h, n))
            FROM jobs WHERE id = \(id)
            """, logger: logger)
        for try await row in rows.decode((String, Date, Date?, Date?, [Int64], [Int], [Date], [String]).self) {
            let attempts = zip(row.5, zip(row.6, row.7)).map { JobDetail.Attempt(attempt: $0, at: $1.0, error: $1.1) }
            return JobDetail(record: record, payload: row.0, errorHistory: attempts, createdAt: row.1, startedAt: row.2,
                             finishedAt: row.3, eventIds: row.4, runs: try await PipelineRunsTable.made(byJob: id, on: connection, logger: logger))
        }
        return nil
    }

    /// When the queue last changed: the console's live view refreshes its lists when it moves.
    public static func lastChange(on connection: PostgresConnection, logger: Logger) async throws -> Date? {
        let rows = try await connection.query("SELECT max(updated_at) FROM jobs", logger: logger)
        for try await at in rows.decode(Date?.self) { return at }
        return nil
    }
}
