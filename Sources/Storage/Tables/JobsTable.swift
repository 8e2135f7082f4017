import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// SQL for `jobs`, the queue: enqueueing here; leases and outcomes in JobsTable+Leases, ops in JobsTable+Admin.
public enum JobsTable {
    /// One job; a job with a waiting key whose key already has a queued job is that job, its payload merged in
    /// (the database decides: a unique index on queued waiting keys). With `eventID`, the event is linked to it.
    public static func enqueue(_ job: NewJob, eventID: Int64?, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let ids = try await enqueueBatch([(job, eventID)], on: connection, logger: logger)
        guard let id = ids.first else { throw StorageError.noRowReturned("jobs insert") }
        return id
    }

    /// One job per event, or per waiting key (events of one key share a job: theirs, or the one already queued),
    /// in one statement, and each event linked to its job; returns each job's id by its event id.
    public static func enqueueBatch(
        _ jobs: [(job: NewJob, eventID: Int64)], linkingEvents: Bool = true, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Int64: Int64] {
        let ids = try await enqueueBatch(jobs.map { ($0.job, Optional($0.eventID)) }, linkingEvents: linkingEvents, on: connection, logger: logger)
        return Dictionary(zip(jobs.map(\.eventID), ids)) { first, _ in first }
    }

    /// How a job joins the one of its waiting key that is queued: its payload merged in, nothing else (see below).
    /// Shared by the inbox's one-statement path (`WebhookEventsTable.storeFresh`).
    static let joinWaiting = "ON CONFLICT (waiting_key) WHERE status = 'queued' DO UPDATE SET payload = jobs.payload || EXCLUDED.payload"

    /// The jobs' ids, in input order.
    /// With `linkingEvents`, each job's events (stored already) are updated to name it; the inbox's group commit
    /// writes its events after their jobs, already naming them, and passes false.
    /// A job joined while it waits gains the payload and nothing else: `updated_at` (indexed) stays, so the merge is
    /// a heap-only update (no index entries; the table keeps room for it, migration 0018). Under a stream of sync
    /// webhooks most of them join a waiting job, and this halves what each batch's upsert costs Postgres.
    static func enqueueBatch(
        _ jobs: [(job: NewJob, eventID: Int64?)], linkingEvents: Bool = true, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Int64] {
        guard !jobs.isEmpty else { return [] }
        let rows = WaitingKeyMerge.rows(jobs)
        let answer = try await connection.query("""
            INSERT INTO jobs (kind, payload, concurrency_key, event_id, max_attempts, waiting_key)
            SELECT j.kind, j.payload::jsonb, NULLIF(j.concurrency_key, ''), NULLIF(j.event_id, 0), j.max_attempts, NULLIF(j.waiting_key, '')
            FROM UNNEST(\(rows.map(\.job.kind))::text[], \(rows.map { JSONValue.object($0.job.payload).jsonText })::text[],
                        \(rows.map { $0.job.concurrencyKey ?? "" })::text[], \(rows.map { $0.eventID ?? 0 })::int8[],
                        \(rows.map(\.job.maxAttempts))::int4[], \(rows.map { $0.job.waitingKey ?? "" })::text[])
                 WITH ORDINALITY AS j(kind, payload, concurrency_key, event_id, max_attempts, waiting_key, n)
            ORDER BY j.waiting_key, j.n
            \(unescaped: joinWaiting)
            RETURNING id, event_id, waiting_key
            """, logger: logger)
        var returned: [(id: Int64, eventID: Int64?, waitingKey: String?)] = []
        for try await row in answer.decode((Int64, Int64?, String?).self) { returned.append(row) }
        let ids = try WaitingKeyMerge.ids(for: jobs, rows: rows, returned: returned)
        let links = zip(jobs, ids).compactMap { job, id in job.eventID.map { ($0, id) } }
        if linkingEvents, !links.isEmpty {
            try await connection.query("""
                UPDATE webhook_events e SET job_id = l.job_id
                FROM UNNEST(\(links.map(\.0))::int8[], \(links.map(\.1))::int8[]) AS l(event_id, job_id)
                WHERE e.id = l.event_id
                """, logger: logger)
        }
        return ids
    }

    /// Enqueues unless a job of its kind and key is already waiting (queued, or failed and due for a retry): a
    /// second reconciliation tick or sync request while one waits adds nothing. Returns the new job's id, or nil.
    public static func enqueueUnlessQueued(_ job: NewJob, on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        try await enqueueUnlessWaiting([job], orRunning: false, on: connection, logger: logger).first
    }

    /// The job, or the id of one of its kind and key already waiting (its payload merged in): asking twice queues one job.
    public static func enqueueOrWaiting(_ job: NewJob, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        guard let id = try await enqueueOrWaiting([job], on: connection, logger: logger).first else { throw StorageError.noRowReturned("jobs insert") }
        return id
    }

    /// Each job, or the id of one of its kind and key already waiting (a failed one due for its retry as it is, a
    /// queued one with the payload merged in), in input order: two statements however many jobs (ops' drift check of
    /// every company asks for thousands at once).
    public static func enqueueOrWaiting(_ jobs: [NewJob], on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        guard !jobs.isEmpty else { return [] }
        let retrying = try await connection.query(retryingQuery(jobs), logger: logger)
        var ids = [Int64?](repeating: nil, count: jobs.count)
        for try await (n, id) in retrying.decode((Int, Int64).self) { ids[n - 1] = id }
        let fresh = jobs.indices.filter { ids[$0] == nil }
        let queued = try await enqueueBatch(fresh.map { (jobs[$0], nil) }, on: connection, logger: logger)
        guard queued.count == fresh.count else { throw StorageError.noRowReturned("jobs insert") }
        for (index, id) in zip(fresh, queued) { ids[index] = id }
        return ids.compactMap { $0 }
    }

    /// Each job unless one of its kind and key is already waiting (or, with `orRunning`, running), in one
    /// statement: the scheduler's rounds. Returns the new jobs' ids. Two instances' rounds at once queue one job a
    /// key: the unique index on queued waiting keys refuses the second, which then adds nothing.
    public static func enqueueUnlessWaiting(_ jobs: [NewJob], orRunning: Bool, on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        guard !jobs.isEmpty else { return [] }
        let rows = try await connection.query(enqueueUnlessWaitingQuery(jobs, orRunning: orRunning), logger: logger)
        var ids: [Int64] = []
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        return ids
    }

    /// The `NOT EXISTS` reads the jobs still to run of a key (`jobs_key_pending_idx`), never the key's history. Its
    /// states are one list: an `IN (…) OR status = 'running'` is not one the planner matches to that partial index.
    static func enqueueUnlessWaitingQuery(_ jobs: [NewJob], orRunning: Bool) -> PostgresQuery {
        let waiting = (orRunning ? [JobStatus.queued, .failed, .running] : [.queued, .failed]).map(\.rawValue)
        return """
        INSERT INTO jobs (kind, payload, concurrency_key, max_attempts, waiting_key)
        SELECT j.kind, j.payload::jsonb, j.concurrency_key, j.max_attempts, NULLIF(j.waiting_key, '')
        FROM UNNEST(\(jobs.map(\.kind))::text[], \(jobs.map { JSONValue.object($0.payload).jsonText })::text[],
                    \(jobs.map { $0.concurrencyKey ?? "" })::text[], \(jobs.map(\.maxAttempts))::int4[],
                    \(jobs.map { $0.waitingKey ?? "" })::text[])
             AS j(kind, payload, concurrency_key, max_attempts, waiting_key)
        WHERE NOT EXISTS (
            SELECT 1 FROM jobs x WHERE x.concurrency_key = j.concurrency_key AND x.kind = j.kind AND x.status = ANY(\(waiting)::text[]))
        ON CONFLICT (waiting_key) WHERE status = 'queued' DO NOTHING
        RETURNING id
        """
    }
}

/// How a batch of jobs becomes rows when jobs of one waiting key share one: pure, so it is tested without Postgres.
enum WaitingKeyMerge {
    struct Row: Equatable {
        var job: NewJob
        var eventID: Int64?
    }

    /// One row per job without a waiting key; one per waiting key for the others, its payload the jobs' payloads
    /// merged in input order (a later job's field wins) and its event the first of them.
    static func rows(_ jobs: [(job: NewJob, eventID: Int64?)]) -> [Row] {
        var rows: [Row] = []
        var byKey: [String: Int] = [:]
        for (job, eventID) in jobs {
            if let key = job.waitingKey, let index = byKey[key] {
                rows[index].job.payload.merge(job.payload) { $1 }
                rows[index].eventID = rows[index].eventID ?? eventID
                continue
            }
            if let key = job.waitingKey { byKey[key] = rows.count }
            rows.append(Row(job: job, eventID: eventID))
        }
        return rows
    }

    /// Each input job's id: by waiting key for merged jobs (the returned row may be an older queued job), by row
    /// (its event, or its position among the rows without one) for the others.
    static func ids(for jobs: [(job: NewJob, eventID: Int64?)], rows: [Row], returned: [(id: Int64, eventID: Int64?, waitingKey: String?)]) throws -> [Int64] {
        var byKey: [String: Int64] = [:]
        var byEvent: [Int64: Int64] = [:]
        var unnamed: [Int64] = []
        for row in returned {
            if let key = row.waitingKey { byKey[key] = row.id } else if let event = row.eventID { byEvent[event] = row.id } else { unnamed.append(row.id) }
        }
        guard returned.count == rows.count else { throw StorageError.noRowReturned("jobs insert: \(returned.count) of \(rows.count) rows") }
        var nextUnnamed = unnamed.sorted().makeIterator()
        return try jobs.map { job, eventID in
            if let key = job.waitingKey, let id = byKey[key] { return id }
            if let eventID, let id = byEvent[eventID] { return id }
            guard let id = nextUnnamed.next() else { throw StorageError.noRowReturned("jobs insert") }
            return id
        }
    }
}

extension JobsTable {
    /// For each job, the first failed job of its kind and key waiting for a retry, as (its job's 1-based position, id);
    /// read from `jobs_key_pending_idx` (a key's jobs still to run, not every job it ever had), whose predicate the
    /// `IN` matches.
    static func retryingQuery(_ jobs: [NewJob]) -> PostgresQuery {
        """
        SELECT k.n, f.id FROM UNNEST(\(jobs.map { $0.concurrencyKey ?? "" })::text[], \(jobs.map(\.kind))::text[])
            WITH ORDINALITY AS k(concurrency_key, kind, n)
        CROSS JOIN LATERAL (
            SELECT j.id FROM jobs j
            WHERE j.concurrency_key = k.concurrency_key AND j.kind = k.kind AND j.status IN ('queued', 'failed') AND j.status = 'failed'
            ORDER BY j.id LIMIT 1) f
        """
    }
}

extension JobsTable {
    /// Where the counts of ``countsByStatus(on:logger:)`` stop: a count of `countCap` means that many or more.
    public static let countCap = 10_000

    /// How many jobs are in each state, each counted up to ``countCap``.
    ///
    /// Bounded rather than exact: the console's overview and jobs page and the admin health read this on every view,
    /// and nearly all of the table is finished jobs kept for the retention period. What ops read from the number is
    /// "none, a few, a backlog": past ten thousand the exact figure changes no decision. An exact count kept up by a
    /// trigger would make every claim, finish and inbox insert update the same few counter rows inside its own
    /// transaction, a lock every writer of the queue would queue on; a bounded count costs the write path nothing and
    /// each state at most `countCap` entries of `jobs_status_id_idx`.
    public static func countsByStatus(on connection: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        let rows = try await connection.query(countsQuery(), logger: logger)
        var counts: [String: Int] = [:]
        for try await (status, count) in rows.decode((String, Int).self) where count > 0 { counts[status] = count }
        return counts
    }

    /// Each state written out, so each count is planned knowing how common its state is: a rare one reads
    /// `jobs_status_id_idx`, a common one may walk the primary key, and either stops at the cap. (One subquery over a
    /// list of states is planned for any state: once it walked the primary key for them all, the whole table for a
    /// rare one.) `ORDER BY id` rules out a sequential scan, which clustered finished rows can drag far past the cap.
    static func countsQuery() -> PostgresQuery {
        """
        SELECT 'queued', (SELECT count(*)::int FROM (SELECT 1 FROM jobs WHERE status = 'queued' ORDER BY id LIMIT \(countCap)) c)
        UNION ALL SELECT 'running', (SELECT count(*)::int FROM (SELECT 1 FROM jobs WHERE status = 'running' ORDER BY id LIMIT \(countCap)) c)
        UNION ALL SELECT 'failed', (SELECT count(*)::int FROM (SELECT 1 FROM jobs WHERE status = 'failed' ORDER BY id LIMIT \(countCap)) c)
        UNION ALL SELECT 'dead', (SELECT count(*)::int FROM (SELECT 1 FROM jobs WHERE status = 'dead' ORDER BY id LIMIT \(countCap)) c)
        UNION ALL SELECT 'succeeded', (SELECT count(*)::int FROM (SELECT 1 FROM jobs WHERE status = 'succeeded' ORDER BY id LIMIT \(countCap)) c)
        UNION ALL SELECT 'cancelled', (SELECT count(*)::int FROM (SELECT 1 FROM jobs WHERE status = 'cancelled' ORDER BY id LIMIT \(countCap)) c)
        """
    }
}
