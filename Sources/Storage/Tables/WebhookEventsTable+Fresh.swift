import Logging
import MarketplaceCore
import PostgresNIO

extension WebhookEventsTable {
    /// An event for ``storeFresh(_:on:logger:)`` with its job, if it calls for one.
    public struct FreshEvent: Sendable {
        public var event: InboxEvent
        public var job: NewJob?

        public init(event: InboxEvent, job: NewJob?) {
            self.event = event
            self.job = job
        }
    }

    /// The inbox's common case in one statement, committed on its own: events whose keys the inbox has never held
    /// (and that repeat none of their batch's), their jobs upserted into their keys' waiting ones, each event inserted
    /// naming its job. One round trip instead of the five of a transaction (`BEGIN`, ``reserve(keys:on:logger:)``,
    /// the jobs' upsert, ``insert(_:on:logger:)``, `COMMIT`): under load a batch's time is mostly hand-offs and
    /// waits between those round trips.
    ///
    /// Returns each event's id and job id in input order; nil, having written nothing, when any key is already in the
    /// inbox (a redelivery, or bytes seen before the window): the caller then takes the transaction, which tells
    /// repeats apart. A concurrent delivery of the same bytes between the check and the insert makes the statement
    /// fail on the unique key, also writing nothing. Events go in in key order, as ``insert(_:on:logger:)``'s do.
    public static func storeFresh(_ events: [FreshEvent], on connection: PostgresConnection, logger: Logger) async throws -> [(eventID: Int64, jobID: Int64?)]? {
        guard !events.isEmpty else { return [] }
        precondition(Set(events.map(\.event.dedupeKey)).count == events.count, "storeFresh takes distinct keys")
        // Jobs name their event by its position (1-based, as `WITH ORDINALITY` counts) until the statement gives it an id.
        let jobs = WaitingKeyMerge.rows(events.enumerated().compactMap { index, fresh in fresh.job.map { ($0, Int64(index + 1)) } })
        // "" stands for NULL: arrays of optionals are not bindable, and no field here is meaningfully empty.
        func column(_ value: (InboxEvent) -> String?) -> [String] { events.map { value($0.event) ?? "" } }
        let rows = try await connection.query("""
            WITH input AS (
                SELECT * FROM UNNEST(\(events.map(\.event.type))::text[], \(column(\.operation))::text[],
                                     \(column { $0.success.map(String.init) })::text[], \(column(\.connectionId))::text[],
                                     \(column(\.integrationId))::text[], \(column(\.provider))::text[], \(column(\.model))::text[],
                                     \(column(\.syncName))::text[], \(events.map(\.event.dedupeKey))::text[], \(events.map(\.event.rawBody))::text[],
                                     \(events.map { ($0.job == nil ? WebhookEventStatus.ignored : .received).rawValue })::text[],
                                     \(events.map { $0.job?.waitingKey ?? "" })::text[], \(events.map { $0.job != nil })::bool[])
                    WITH ORDINALITY AS e(type, operation, success, connection_id, integration_id, provider, model, sync_name, dedupe_key,
                                         raw_body, status, waiting_key, has_job, n)
            ),
            fresh AS (
                SELECT n, nextval(pg_get_serial_sequence('webhook_events', 'id')) AS id FROM input
                WHERE NOT EXISTS (SELECT 1 FROM webhook_events w WHERE w.dedupe_key = ANY(\(events.map(\.event.dedupeKey))::text[]))
            ),
            upserted AS (
                INSERT INTO jobs (kind, payload, concurrency_key, event_id, max_attempts, waiting_key)
                SELECT j.kind, j.payload::jsonb, NULLIF(j.concurrency_key, ''), f.id, j.max_attempts, NULLIF(j.waiting_key, '')
                FROM UNNEST(\(jobs.map(\.job.kind))::text[], \(jobs.map { JSONValue.object($0.job.payload).jsonText })::text[],
                            \(jobs.map { $0.job.concurrencyKey ?? "" })::text[], \(jobs.map { $0.eventID ?? 0 })::int8[],
                            \(jobs.map(\.job.maxAttempts))::int4[], \(jobs.map { $0.job.waitingKey ?? "" })::text[])
                     AS j(kind, payload, concurrency_key, event_n, max_attempts, waiting_key)
                JOIN fresh f ON f.n = j.event_n
                ORDER BY j.waiting_key, j.event_n
                \(unescaped: JobsTable.joinWaiting)
                RETURNING id, event_id, waiting_key
            ),
            stored AS (
                INSERT INTO webhook_events (id, type, operation, success, connection_id, integration_id, provider, model, sync_name,
                                            dedupe_key, raw_body, status, job_id)
                OVERRIDING SYSTEM VALUE
                SELECT f.id, i.type, NULLIF(i.operation, ''), NULLIF(i.success, '')::boolean, NULLIF(i.connection_id, ''),
                       NULLIF(i.integration_id, ''), NULLIF(i.provider, ''), NULLIF(i.model, ''), NULLIF(i.sync_name, ''),
                       i.dedupe_key, i.raw_body, i.status,
                       CASE WHEN NOT i.has_job THEN NULL
                            WHEN i.waiting_key <> '' THEN (SELECT u.id FROM upserted u WHERE u.waiting_key = i.waiting_key)
                            ELSE (SELECT u.id FROM upserted u WHERE u.waiting_key IS NULL AND u.event_id = f.id) END
                FROM input i JOIN fresh f ON f.n = i.n
                ORDER BY i.dedupe_key
                RETURNING id, job_id
            )
            SELECT f.n, s.id, s.job_id FROM stored s JOIN fresh f ON f.id = s.id ORDER BY f.n
            """, logger: logger)
        var stored: [(eventID: Int64, jobID: Int64?)] = []
        for try await (position, id, jobID) in rows.decode((Int64, Int64, Int64?).self) {
            guard position == Int64(stored.count + 1) else { throw StorageError.noRowReturned("webhook_events storeFresh: event \(stored.count + 1)") }
            stored.append((id, jobID))
        }
        if stored.isEmpty { return nil }
        // These cannot undo the statement (it commits on its own); they guard states its shape rules out (the held-key
        // check covers every key at once; every job row joins a fresh event, and each event finds its job by key or by
        // id). Should one fire, the batch answers 503 and Nango's retry reads as the repeat it is: nothing is lost.
        guard stored.count == events.count else { throw StorageError.noRowReturned("webhook_events storeFresh: \(stored.count) of \(events.count)") }
        for (fresh, row) in zip(events, stored) where (fresh.job != nil) != (row.jobID != nil) {
            throw StorageError.noRowReturned("webhook_events storeFresh: event \(row.eventID) without its job")
        }
        // The statement's rows end at CommandComplete, but Postgres commits at the Sync after it, where a deferred check
        // or the WAL flush can still fail. postgres-nio sends the next query only after that ReadyForQuery, so this read
        // sees the commit's outcome: the events are there only if it held. Until then nobody may be told "stored".
        let ids = stored.map(\.eventID)
        let confirmed = try await connection.query("SELECT count(*)::int FROM webhook_events WHERE id = ANY(\(ids)::int8[])", logger: logger)
        for try await count in confirmed.decode(Int.self) where count == stored.count { return stored }
        throw StorageError.noRowReturned("webhook_events storeFresh: the batch's commit did not hold")
    }
}
