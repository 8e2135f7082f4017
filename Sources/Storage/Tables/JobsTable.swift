import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// A job a worker holds the lease of.
public struct ClaimedJob: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var payload: [String: JSONValue]
    public var attempts: Int
    public var maxAttempts: Int
    public var concurrencyKey: String?
    public var eventId: Int64?

    public init(id: Int64, kind: String, payload: [String: JSONValue], attempts: Int, maxAttempts: Int, concurrencyKey: String?, eventId: Int64?) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.concurrencyKey = concurrencyKey
        self.eventId = eventId
    }
}

/// A row of `jobs` as the admin API shows it.
public struct JobRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var kind: String
    public var status: String
    public var attempts: Int
    public var maxAttempts: Int
    public var runAt: Date
    public var lastError: String?
    public var concurrencyKey: String?

    enum CodingKeys: String, CodingKey {
        case id, kind, status, attempts
        case maxAttempts = "max_attempts"
        case runAt = "run_at"
        case lastError = "last_error"
        case concurrencyKey = "concurrency_key"
    }
}

/// SQL for `jobs`, the queue.
public enum JobsTable {
    public static func enqueue(_ job: NewJob, eventID: Int64?, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await connection.query("""
            INSERT INTO jobs (kind, payload, concurrency_key, event_id, max_attempts)
            VALUES (\(job.kind), \(JSONValue.object(job.payload).jsonText)::jsonb, \(job.concurrencyKey), \(eventID), \(job.maxAttempts))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw StorageError.noRowReturned("jobs insert")
    }

    /// One job per event, in one statement; returns each job's id by its event id.
    public static func enqueueBatch(_ jobs: [(job: NewJob, eventID: Int64)], on connection: PostgresConnection, logger: Logger) async throws -> [Int64: Int64] {
        guard !jobs.isEmpty else { return [:] }
        let rows = try await connection.query("""
            INSERT INTO jobs (kind, payload, concurrency_key, event_id, max_attempts)
            SELECT j.kind, j.payload::jsonb, NULLIF(j.concurrency_key, ''), j.event_id, j.max_attempts
            FROM UNNEST(\(jobs.map(\.job.kind))::text[], \(jobs.map { JSONValue.object($0.job.payload).jsonText })::text[],
                        \(jobs.map { $0.job.concurrencyKey ?? "" })::text[], \(jobs.map(\.eventID))::int8[], \(jobs.map(\.job.maxAttempts))::int4[])
                 AS j(kind, payload, concurrency_key, event_id, max_attempts)
            RETURNING id, event_id
            """, logger: logger)
        var ids: [Int64: Int64] = [:]
        for try await (id, eventID) in rows.decode((Int64, Int64).self) { ids[eventID] = id }
        return ids
    }

    /// Enqueues unless a job with the same concurrency key is already waiting: a second reconciliation
    /// tick or sync request while one is queued adds nothing. Returns the new job's id, or nil.
    public static func enqueueUnlessQueued(_ job: NewJob, on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        let rows = try await connection.query("""
            INSERT INTO jobs (kind, payload, concurrency_key, max_attempts)
            SELECT \(job.kind), \(JSONValue.object(job.payload).jsonText)::jsonb, \(job.concurrencyKey), \(job.maxAttempts)
            WHERE NOT EXISTS (
                SELECT 1 FROM jobs WHERE concurrency_key = \(job.concurrencyKey) AND kind = \(job.kind) AND status IN ('queued', 'failed'))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        return nil
    }

    /// The job, or the id of one of its kind and key already waiting: asking twice queues one job.
    public static func enqueueOrWaiting(_ job: NewJob, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        if let id = try await enqueueUnlessQueued(job, on: connection, logger: logger) { return id }
        if let waiting = try await waiting(concurrencyKey: job.concurrencyKey ?? "", kind: job.kind, on: connection, logger: logger) { return waiting }
        // The waiting one was claimed between the two statements: queue this one after it.
        return try await enqueue(job, eventID: nil, on: connection, logger: logger)
    }

    /// Each job unless one of its kind and key is already waiting (or, with `orRunning`, running), in one
    /// statement: the scheduler's rounds. Returns the new jobs' ids.
    public static func enqueueUnlessWaiting(_ jobs: [NewJob], orRunning: Bool, on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        guard !jobs.isEmpty else { return [] }
        let rows = try await connection.query("""
            INSERT INTO jobs (kind, payload, concurrency_key, max_attempts)
            SELECT j.kind, j.payload::jsonb, j.concurrency_key, j.max_attempts
            FROM UNNEST(\(jobs.map(\.kind))::text[], \(jobs.map { JSONValue.object($0.payload).jsonText })::text[],
                        \(jobs.map { $0.concurrencyKey ?? "" })::text[], \(jobs.map(\.maxAttempts))::int4[])
                 AS j(kind, payload, concurrency_key, max_attempts)
            WHERE NOT EXISTS (
                SELECT 1 FROM jobs x WHERE x.concurrency_key = j.concurrency_key AND x.kind = j.kind
                  AND (x.status IN ('queued', 'failed') OR (\(orRunning) AND x.status = 'running')))
            RETURNING id
            """, logger: logger)
        var ids: [Int64] = []
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        return ids
    }

    /// Takes the next due job whose concurrency key is free. `SKIP LOCKED` lets workers claim side by side;
    /// when two claim jobs of one key at once, the unique index on running keys refuses the second (23505),
    /// which the caller treats as "nothing claimed this time".
    public static func claim(owner: String, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> ClaimedJob? {
        let leaseSeconds = Double(lease.components.seconds)
        let rows = try await connection.query("""
            WITH next AS (
                SELECT j.id FROM jobs j
                WHERE j.status IN ('queued', 'failed') AND j.run_at <= now()
                  AND (j.concurrency_key IS NULL OR NOT EXISTS (
                      SELECT 1 FROM jobs r WHERE r.status = 'running' AND r.concurrency_key = j.concurrency_key))
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

    public static func succeed(id: Int64, owner: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            WITH done AS (
                UPDATE jobs SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL, last_error = NULL,
                       finished_at = now(), updated_at = now()
                WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
                RETURNING event_id
            )
            UPDATE webhook_events SET status = 'processed', processed_at = now(), error = NULL
            WHERE id = (SELECT event_id FROM done)
            """, logger: logger)
    }

    /// A job with nothing left to do: finished as cancelled, with the reason; its event counts as processed.
    public static func cancel(id: Int64, owner: String, reason: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            WITH done AS (
                UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, last_error = \(reason),
                       finished_at = now(), updated_at = now()
                WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
                RETURNING event_id
            )
            UPDATE webhook_events SET status = 'processed', processed_at = now(), error = NULL
            WHERE id = (SELECT event_id FROM done)
            """, logger: logger)
    }

    /// A failed attempt: back to the queue at `retryAt`, or dead after the last attempt. Returns the new status.
    @discardableResult
    public static func fail(
        id: Int64, owner: String, error: String, retryAt: Date?, on connection: PostgresConnection, logger: Logger
    ) async throws -> String? {
        let rows = try await connection.query("""
            WITH failed AS (
                UPDATE jobs SET
                    status = CASE WHEN \(retryAt)::timestamptz IS NULL OR attempts >= max_attempts THEN 'dead' ELSE 'failed' END,
                    run_at = COALESCE(\(retryAt)::timestamptz, run_at), last_error = \(error),
                    lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now()
                WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
                RETURNING status, event_id
            ), event AS (
                UPDATE webhook_events SET status = 'failed', error = \(error)
                WHERE id = (SELECT event_id FROM failed WHERE status = 'dead')
            )
            SELECT status FROM failed
            """, logger: logger)
        for try await status in rows.decode(String.self) { return status }
        return nil
    }

    /// Gives a job back without spending an attempt (shutdown, or a rate limit that only asks to wait).
    public static func release(id: Int64, owner: String, runAt: Date?, note: String?, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE jobs SET status = 'queued', attempts = GREATEST(attempts - 1, 0), run_at = COALESCE(\(runAt)::timestamptz, now()),
                   last_error = COALESCE(\(note)::text, last_error), lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'running'
            """, logger: logger)
    }

    /// Jobs whose worker vanished (its lease ran out): back to the queue, or dead when out of attempts.
    /// `maxAttempts` is the retry policy's ceiling, applied on top of each job's own.
    public static func reapExpiredLeases(maxAttempts: Int, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("""
            UPDATE jobs SET
                status = CASE WHEN attempts >= LEAST(max_attempts, \(maxAttempts)) THEN 'dead' ELSE 'failed' END,
                last_error = 'lease of ' || lease_owner || ' expired: the worker stopped without finishing',
                lease_owner = NULL, lease_expires_at = NULL, run_at = now(), updated_at = now()
            WHERE status = 'running' AND lease_expires_at < now()
            RETURNING id
            """, logger: logger)
        return try await rows.count()
    }

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

extension JobsTable {
    /// The id of a job of this key still waiting to run, if any.
    public static func waiting(concurrencyKey: String, kind: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        let rows = try await connection.query("""
            SELECT id FROM jobs WHERE concurrency_key = \(concurrencyKey) AND kind = \(kind) AND status IN ('queued', 'failed')
            ORDER BY id LIMIT 1
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        return nil
    }
}

extension JobsTable {
    public static func countsByStatus(on connection: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        let rows = try await connection.query("SELECT status, count(*)::int FROM jobs GROUP BY status", logger: logger)
        var counts: [String: Int] = [:]
        for try await (status, count) in rows.decode((String, Int).self) { counts[status] = count }
        return counts
    }
}
