import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// The workers' side of the queue: a claim under a lease, its renewal, and how a run ends.
extension JobsTable {
    /// Takes the next due job whose concurrency key is free. `SKIP LOCKED` lets workers claim side by side;
    /// when two claim jobs of one key at once, the unique index on running keys refuses the second (23505),
    /// which the caller treats as "nothing claimed this time". A job waits for the older jobs of its key that are
    /// still queued or awaiting a retry, so a company's life is applied in the order Nango told it (an upsert retried
    /// later must not undo a newer `refresh_failed`, nor a scheduled refresh overtake either); only a job that merges
    /// while queued passes older jobs of its own kind (they read the same state). Dead and cancelled jobs hold nothing.
    public static func claim(owner: String, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> ClaimedJob? {
        let leaseSeconds = Double(lease.components.seconds)
        let rows = try await connection.query("""
            WITH next AS (
                SELECT j.id FROM jobs j
                WHERE j.status IN ('queued', 'failed') AND j.run_at <= now()
                  AND (j.concurrency_key IS NULL OR NOT EXISTS (
                      SELECT 1 FROM jobs r WHERE r.status = 'running' AND r.concurrency_key = j.concurrency_key))
                  AND (j.concurrency_key IS NULL OR NOT EXISTS (
                      SELECT 1 FROM jobs o WHERE o.concurrency_key = j.concurrency_key AND o.id < j.id
                        AND o.status IN ('queued', 'failed', 'running') AND (j.waiting_key IS NULL OR o.kind <> j.kind)))
                ORDER BY j.run_at, j.id
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE jobs SET status = 'running', lease_owner = \(owner),
                   lease_expires_at = now() + make_interval(secs => \(leaseSeconds)),
                   attempts = jobs.attempts + 1, started_at = now(), updated_at = now()
            FROM next WHERE jobs.id = next.id
            RETURNING jobs.id, jobs.kind, jobs.payload::text, jobs.attempts, jobs.max_attempts, jobs.concurrency_key, jobs.event_id
            """, logger: logger)
        for try await row in rows.decode((Int64, String, String, Int, Int, String?, Int64?).self) {
            let payload = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(row.2.utf8))) ?? [:]
            return ClaimedJob(id: row.0, kind: row.1, payload: payload, attempts: row.3, maxAttempts: row.4, concurrencyKey: row.5, eventId: row.6)
        }
        return nil
    }

    /// Extends the lease; false when the worker no longer holds it (it expired and another took over).
    public static func renewLease(id: Int64, owner: String, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("""
            UPDATE jobs SET lease_expires_at = now() + make_interval(secs => \(Double(lease.components.seconds))), updated_at = now()
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
            RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// In a transaction: true when `owner` still holds the job's unexpired lease, and the job's row is locked until
    /// the transaction ends, so no reaper or other worker can take the job over before this transaction's writes
    /// commit. A commit made on behalf of a job runs this first (fencing).
    public static func holdsLease(id: Int64, owner: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("""
            SELECT id FROM jobs
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running' AND lease_expires_at > clock_timestamp()
            FOR UPDATE
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    public static func succeed(id: Int64, owner: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            WITH done AS (
                UPDATE jobs SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL, last_error = NULL,
                       finished_at = now(), updated_at = now()
                WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
                RETURNING id
            )
            UPDATE webhook_events SET status = 'processed', processed_at = now(), error = NULL
            WHERE job_id = (SELECT id FROM done)
            """, logger: logger)
    }

    /// A job with nothing left to do: finished as cancelled, with the reason; its event counts as processed.
    public static func cancel(id: Int64, owner: String, reason: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            WITH done AS (
                UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, last_error = \(reason),
                       finished_at = now(), updated_at = now()
                WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
                RETURNING id
            )
            UPDATE webhook_events SET status = 'processed', processed_at = now(), error = NULL
            WHERE job_id = (SELECT id FROM done)
            """, logger: logger)
    }

    /// `error_history = <opening> error <closing>` appends one attempt's error and keeps the last 20.
    static let historyOpening = """
        (CASE WHEN jsonb_array_length(error_history) >= 20 THEN error_history - 0 ELSE error_history END)
            || jsonb_build_array(jsonb_build_object('attempt', attempts, 'at', now(), 'error', 
        """
    static let historyClosing = "))"

    /// A failed attempt: back to the queue at `retryAt`, or dead after the last attempt. Returns the new status.
    @discardableResult
    public static func fail(
        id: Int64, owner: String, error: String, retryAt: Date?, on connection: PostgresConnection, logger: Logger
    ) async throws -> JobStatus? {
        let rows = try await connection.query("""
            WITH failed AS (
                UPDATE jobs SET
                    status = CASE WHEN \(retryAt)::timestamptz IS NULL OR attempts >= max_attempts THEN 'dead' ELSE 'failed' END,
                    run_at = COALESCE(\(retryAt)::timestamptz, run_at), last_error = \(error),
                    error_history = \(unescaped: historyOpening)\(error)::text\(unescaped: historyClosing),
                    lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now()
                WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
                RETURNING id, status
            ), event AS (
                UPDATE webhook_events SET status = 'failed', error = \(error)
                WHERE job_id = (SELECT id FROM failed WHERE status = 'dead')
            )
            SELECT status FROM failed
            """, logger: logger)
        for try await status in rows.decode(String.self) {
            guard let known = JobStatus(rawValue: status) else { throw StorageError.unexpectedValue("jobs.status", status) }
            return known
        }
        return nil
    }

    /// Gives a job back without spending an attempt (shutdown, or a rate limit that only asks to wait). When a job
    /// of its waiting key was queued meanwhile, that one takes over: this one's payload and events are merged into it
    /// and this one ends `cancelled`, so the key still has one queued job.
    public static func release(id: Int64, owner: String, runAt: Date?, note: String?, on connection: PostgresConnection, logger: Logger) async throws {
        _ = try await arbitratingWaitingKey { try await connection.query("""
            WITH me AS (
                SELECT id, waiting_key, payload FROM jobs WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
            ), merged AS (
                UPDATE jobs w SET payload = me.payload || w.payload, updated_at = now()
                FROM me WHERE w.waiting_key = me.waiting_key AND w.status = 'queued' AND w.id <> me.id
                RETURNING w.id
            ), relinked AS (
                UPDATE webhook_events SET job_id = (SELECT id FROM merged) WHERE job_id = \(id) AND EXISTS (SELECT 1 FROM merged)
            )
            UPDATE jobs SET
                status = CASE WHEN EXISTS (SELECT 1 FROM merged) THEN 'cancelled' ELSE 'queued' END,
                finished_at = CASE WHEN EXISTS (SELECT 1 FROM merged) THEN now() END,
                attempts = GREATEST(attempts - 1, 0), run_at = COALESCE(\(runAt)::timestamptz, now()),
                last_error = COALESCE('merged into waiting job ' || (SELECT id FROM merged), \(note)::text, last_error),
                lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE id = (SELECT id FROM me)
            """, logger: logger) }
    }

    /// Runs a statement that decides "merge into the key's queued job, or queue this one" (`release`, `retry`). Its
    /// decision reads a snapshot: a job of the key queued after it (a webhook) makes its requeue meet the unique index
    /// of queued keys (23505), and nothing is written. The statement then runs again: its new snapshot sees that job and
    /// merges into it. One try more per job queued in between, which a few cover.
    static func arbitratingWaitingKey<Result>(_ statement: () async throws -> Result) async throws -> Result {
        var attempt = 1
        while true {
            do {
                return try await statement()
            } catch let error as PSQLError where error.isUniqueViolation && attempt < 5 {
                attempt += 1
            }
        }
    }

    /// Jobs whose worker vanished (its lease ran out): back to the queue, or dead when out of attempts.
    /// `maxAttempts` is the retry policy's ceiling, applied on top of each job's own.
    public static func reapExpiredLeases(maxAttempts: Int, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("""
            UPDATE jobs SET
                status = CASE WHEN attempts >= LEAST(max_attempts, \(maxAttempts)) THEN 'dead' ELSE 'failed' END,
                last_error = 'lease of ' || lease_owner || ' expired: the worker stopped without finishing',
                error_history = \(unescaped: historyOpening)'lease of ' || lease_owner || ' expired: the worker stopped without finishing'\(unescaped: historyClosing),
                lease_owner = NULL, lease_expires_at = NULL, run_at = now(), updated_at = now()
            WHERE status = 'running' AND lease_expires_at < now()
            RETURNING id
            """, logger: logger)
        return try await rows.count()
    }
}
