import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// What ops see of the queue and do with it: listings, a retry, the retention cleanup.
extension JobsTable {
    /// Puts a dead (or failed) job back in the queue with fresh attempts.
    public static func retry(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("""
            UPDATE jobs SET status = 'queued', attempts = 0, run_at = now(), finished_at = NULL, updated_at = now()
            WHERE id = \(id) AND status IN ('dead', 'failed', 'cancelled')
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
        let rows = try await connection.query("""
            SELECT \(unescaped: recordColumns) FROM jobs
            WHERE \(status)::text IS NULL OR status = \(status)
            ORDER BY id DESC LIMIT \(limit)
            """, logger: logger)
        return try await records(rows)
    }

    /// Deletes finished jobs older than `age`; returns how many.
    public static func deleteFinished(olderThan age: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("""
            DELETE FROM jobs WHERE status IN ('succeeded', 'cancelled')
              AND finished_at < now() - make_interval(secs => \(Double(age.components.seconds)))
            RETURNING id
            """, logger: logger)
        return try await rows.count()
    }
}
