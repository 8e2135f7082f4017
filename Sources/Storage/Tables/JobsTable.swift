import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// SQL for `jobs`, the queue: enqueueing here; leases and outcomes in JobsTable+Leases, ops in JobsTable+Admin.
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
    /// How many jobs are in each state.
    public static func countsByStatus(on connection: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        let rows = try await connection.query("SELECT status, count(*)::int FROM jobs GROUP BY status", logger: logger)
        var counts: [String: Int] = [:]
        for try await (status, count) in rows.decode((String, Int).self) { counts[status] = count }
        return counts
    }
}
