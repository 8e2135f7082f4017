import Foundation
import Logging
import PostgresNIO

/// A message to be stored for one endpoint.
public struct NewWebhookMessage: Sendable, Equatable {
    public var messageId: String
    public var endpointId: UUID
    public var eventType: String
    public var companyId: UUID?
    public var stream: String
    public var body: String
    /// `.failed` for a disabled endpoint: kept for `recover`, not sent.
    public var status: WebhookMessageStatus
    public var lastError: String?

    public init(messageId: String, endpointId: UUID, eventType: String, companyId: UUID?, stream: String, body: String,
                status: WebhookMessageStatus = .pending, lastError: String? = nil) {
        self.messageId = messageId
        self.endpointId = endpointId
        self.eventType = eventType
        self.companyId = companyId
        self.stream = stream
        self.body = body
        self.status = status
        self.lastError = lastError
    }
}

/// A message claimed for one attempt.
public struct ClaimedWebhookMessage: Sendable, Equatable {
    public var id: Int64
    public var messageId: String
    public var endpointId: UUID
    public var eventType: String
    /// The stored bytes, sent and signed as they are (never decoded as text on the way).
    public var body: ByteBuffer
    /// This attempt's number, from 1.
    public var attempt: Int
    /// The message of this claim that must be answered 2xx before this one is sent (the one before it in its stream),
    /// or nil when it may go at once (a stream's head, or a retry past its first, which holds nothing back).
    public var after: Int64? = nil
}

/// A message as the admin API lists it.
public struct WebhookMessageRecord: Sendable, Equatable {
    public var id: Int64
    public var messageId: String
    public var endpointId: UUID
    public var eventType: String
    public var companyId: UUID?
    public var status: WebhookMessageStatus
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?
}

/// One attempt's result, as the delivery loop writes it.
public struct WebhookAttemptResult: Sendable {
    public enum Next: Sendable, Equatable {
        case delivered
        case retry(after: Duration)
        case failed
    }

    public var statusCode: Int?
    public var latency: Duration
    public var responseExcerpt: String?
    public var error: String?
    public var next: Next

    public init(statusCode: Int?, latency: Duration, responseExcerpt: String?, error: String?, next: Next) {
        self.statusCode = statusCode
        self.latency = latency
        self.responseExcerpt = responseExcerpt
        self.error = error
        self.next = next
    }
}

/// An attempt as the admin API lists it.
public struct WebhookAttemptRecord: Sendable, Equatable {
    public var attemptedAt: Date
    public var statusCode: Int?
    public var latencyMs: Int
    public var responseExcerpt: String?
    public var error: String?
}

/// SQL for `webhook_messages` and `webhook_attempts`.
public enum WebhookMessagesTable {
    /// The channel notified, at commit, when messages to send were stored: delivery loops wake at once.
    public static let channel = "outbound"

    /// Stores `messages` in one statement, and notifies ``channel`` when any is to be sent.
    public static func insert(_ messages: [NewWebhookMessage], on connection: PostgresConnection, logger: Logger) async throws {
        guard !messages.isEmpty else { return }
        try await connection.query("""
            WITH stored AS (
                INSERT INTO webhook_messages (message_id, endpoint_id, event_type, company_id, stream, body, status, last_error)
                SELECT m, e, t, NULLIF(c, '')::uuid, s, b, st, NULLIF(err, '')
                FROM UNNEST(\(messages.map(\.messageId)), \(messages.map(\.endpointId)), \(messages.map(\.eventType)),
                            \(messages.map { $0.companyId?.uuidString ?? "" }), \(messages.map(\.stream)), \(messages.map(\.body)),
                            \(messages.map(\.status.rawValue)), \(messages.map { $0.lastError ?? "" }))
                     AS u(m, e, t, c, s, b, st, err)
                RETURNING status
            )
            SELECT pg_notify(\(channel), '') WHERE EXISTS (SELECT 1 FROM stored WHERE status = 'pending')
            """, logger: logger)
    }

    /// Where a claim's walk over the streams stopped: the next claim goes on after it, so every stream gets its turn.
    public struct StreamKey: Sendable, Hashable {
        public var endpointId: UUID
        public var stream: String

        public init(endpointId: UUID, stream: String) {
            self.endpointId = endpointId
            self.stream = stream
        }
    }

    /// Up to `limit` due messages of enabled endpoints, leased to `owner` for `lease`; of each endpoint no more than this
    /// instance may still hold of it (`maxHeld` less `held[endpoint]`: messages in flight and claimed ones queued for a
    /// free request slot). Of each stream: its head (its oldest message with fewer than two attempts, so one failing
    /// message holds its stream back no longer than its first retry) when due and free, with the never-tried messages
    /// right behind it (up to `chain`, or `chains[endpoint]` when shorter), which the caller sends one after another,
    /// each once the one before it was answered 2xx (``ClaimedWebhookMessage/after``); and, apart, older messages past
    /// their first retry that are due.
    /// A chain is always whole from its head: a message is taken only with every message before it in its stream up to
    /// the head (another claim holding one of them leaves the rest). Streams are taken in (endpoint, stream) order
    /// from just after `after` to the last, then around from the first up to `after` (from the first to the last when
    /// nil), and the messages of the streams taken are shared out heads first, then the second of each chain, and so
    /// on, so that many streams' heads go out side by side; the caller starts the next claim after the last stream this
    /// one took. Returns the messages, by id, and the last stream taken in that walk.
    ///
    /// The walk goes stream by stream, not message by message: each stream costs a few short index descents (the next
    /// stream with a pending message, its head, the chain behind it), however many messages wait behind its head.
    /// Walking the due index instead tested every pending message, and a backlog's messages wait behind their
    /// streams' heads: with 8 of 64 streams free and 10,000 messages pending, a claim took 41 ms to find its 8; this
    /// way 1.8 ms. Taking a chain rather than the head alone means a stream's backlog costs a claim per `chain`
    /// messages, not per message (the claim's round trips were what bounded one stream's rate). Sorting is off for
    /// the statement, so the planner keeps to the walk rather than collecting and sorting; that makes the estimated
    /// cost huge, which would make Postgres compile the statement with LLVM each time (480 ms), so `jit` is off for it
    /// too. (Only here: off for every connection, a sync of 100,000 records ran 5,832 records/s against 6,334 with it
    /// on, one run each.)
    public static func claimDue(
        owner: String, lease: Duration, held: [UUID: Int], maxHeld: Int, after: StreamKey?, limit: Int, chain: Int = 1,
        chains: [UUID: Int] = [:], database: Database, logger: Logger
    ) async throws -> (claimed: [ClaimedWebhookMessage], last: StreamKey?) {
        let query = claimQuery(owner: owner, lease: lease, held: held, maxHeld: maxHeld, after: after, limit: limit, chain: chain, chains: chains)
        let rows = try await database.withTransaction(logger: logger) { connection in
            try await connection.query(claimSettings, logger: logger)
            return try await connection.query(query, logger: logger).collect()
        }
        var claimed: [ClaimedWebhookMessage] = []
        var last: StreamKey?
        var previous: [StreamKey: Int64] = [:]
        for row in rows {
            let (id, messageId, endpoint, stream, type, body, attempt, place) = try row.decode((Int64, String, UUID, String, String, ByteBuffer, Int, Int64).self)
            let key = StreamKey(endpointId: endpoint, stream: stream)
            // Rows come by stream and id, and a chain is whole: the chain's message before this one is the last one seen.
            let after = place > 1 ? previous[key] : nil
            if place > 0 { previous[key] = id }
            claimed.append(ClaimedWebhookMessage(id: id, messageId: messageId, endpointId: endpoint, eventType: type, body: body,
                                                 attempt: attempt, after: after))
            last = key
        }
        return (claimed.sorted { $0.id < $1.id }, last)
    }

    /// What ``claimDue(owner:lease:held:maxHeld:after:limit:chain:chains:database:logger:)`` sets for its transaction
    /// (see there).
    static let claimSettings: PostgresQuery = "SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true)"

    /// The statement ``claimDue(owner:lease:held:maxHeld:after:limit:chain:chains:database:logger:)`` sends.
    static func claimQuery(
        owner: String, lease: Duration, held: [UUID: Int], maxHeld: Int, after: StreamKey?, limit: Int, chain: Int, chains: [UUID: Int]
    ) -> PostgresQuery {
        let seconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        let full = held.filter { $0.value >= maxHeld }.map(\.key)
        let partly = held.filter { $0.value < maxHeld }
        let chain = max(1, min(chain, maxHeld))
        let shorter = chains.filter { $0.value < chain }
        // Every endpoint id is above the nil UUID: from there, the walk starts at the first stream (and has no second lap).
        let origin = StreamKey(endpointId: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), stream: "")
        let start = after ?? origin
        return """
            WITH RECURSIVE after_start AS (
                (SELECT m.endpoint_id, m.stream FROM webhook_messages m
                 WHERE m.status = 'pending' AND (m.endpoint_id, m.stream) > (\(start.endpointId), \(start.stream))
                 ORDER BY m.endpoint_id, m.stream, m.id LIMIT 1)
                UNION ALL
                SELECT n.endpoint_id, n.stream FROM after_start s, LATERAL (
                    SELECT m.endpoint_id, m.stream FROM webhook_messages m
                    WHERE m.status = 'pending' AND (m.endpoint_id, m.stream) > (s.endpoint_id, s.stream)
                    ORDER BY m.endpoint_id, m.stream, m.id LIMIT 1) n
            ), up_to_start AS (
                -- Bounded by the walk itself, not by an upper bound in the scans: with one, Postgres took another
                -- index and sorted (58 ms a claim on 10,000 pending messages instead of 3).
                (SELECT m.endpoint_id, m.stream FROM webhook_messages m
                 WHERE m.status = 'pending' AND (m.endpoint_id, m.stream) > (\(origin.endpointId), \(origin.stream))
                 ORDER BY m.endpoint_id, m.stream, m.id LIMIT 1)
                UNION ALL
                SELECT n.endpoint_id, n.stream FROM up_to_start s, LATERAL (
                    SELECT m.endpoint_id, m.stream FROM webhook_messages m
                    WHERE m.status = 'pending' AND (m.endpoint_id, m.stream) > (s.endpoint_id, s.stream)
                    ORDER BY m.endpoint_id, m.stream, m.id LIMIT 1) n
                WHERE (s.endpoint_id, s.stream) < (\(start.endpointId), \(start.stream))
            ), streams AS (
                -- The walk's order: the streams after the start, then around to the first and up to the start.
                SELECT 0 AS lap, endpoint_id, stream FROM after_start
                UNION ALL
                SELECT 1 AS lap, endpoint_id, stream FROM up_to_start WHERE (endpoint_id, stream) <= (\(start.endpointId), \(start.stream))
            ), open_streams AS (
                -- Each stream with something to send: its due retries past the first, and its chain (the head and the
                -- never-tried messages behind it, up to the first that is not due or not free).
                SELECT s.lap, s.endpoint_id, s.stream, o.retries, o.chain FROM streams s
                CROSS JOIN LATERAL (
                    SELECT coalesce((SELECT o.id FROM webhook_messages o
                        WHERE o.endpoint_id = s.endpoint_id AND o.stream = s.stream AND o.status = 'pending' AND o.attempts < 2
                        ORDER BY o.id LIMIT 1), 9223372036854775807) AS head
                ) h
                CROSS JOIN LATERAL (
                    SELECT coalesce((SELECT x.length FROM UNNEST(\(Array(shorter.keys))::uuid[], \(Array(shorter.values))::int[]) AS x(endpoint_id, length)
                                     WHERE x.endpoint_id = s.endpoint_id), \(chain)) AS length
                ) cl
                CROSS JOIN LATERAL (
                    SELECT
                        (SELECT array_agg(r.id ORDER BY r.id) FROM webhook_messages r
                         WHERE r.endpoint_id = s.endpoint_id AND r.stream = s.stream AND r.status = 'pending' AND r.id < h.head
                           AND r.next_attempt_at <= now() AND (r.lease_expires_at IS NULL OR r.lease_expires_at < now())) AS retries,
                        (SELECT array_agg(c.id ORDER BY c.id) FROM (
                            SELECT m.id, row_number() OVER (ORDER BY m.id) AS n,
                                   bool_and(m.next_attempt_at <= now() AND (m.lease_expires_at IS NULL OR m.lease_expires_at < now())
                                            AND (m.id = h.head OR m.attempts = 0)) OVER (ORDER BY m.id) AS free
                            FROM (SELECT m.id, m.next_attempt_at, m.lease_expires_at, m.attempts FROM webhook_messages m
                                  WHERE m.endpoint_id = s.endpoint_id AND m.stream = s.stream AND m.status = 'pending' AND m.id >= h.head
                                    -- A head out or not due: nothing behind it is read (a test once per stream, not per row).
                                    AND EXISTS (SELECT 1 FROM webhook_messages hd WHERE hd.id = h.head AND hd.next_attempt_at <= now()
                                                AND (hd.lease_expires_at IS NULL OR hd.lease_expires_at < now()))
                                  ORDER BY m.id LIMIT \(chain)) m
                         ) c WHERE c.free AND c.n <= cl.length) AS chain
                ) o
                WHERE (o.retries IS NOT NULL OR o.chain IS NOT NULL)
                  AND NOT (s.endpoint_id = ANY(\(full)::uuid[]))
                  AND NOT EXISTS (SELECT 1 FROM webhook_endpoints p WHERE p.id = s.endpoint_id AND p.status <> 'enabled')
                LIMIT \(limit)
            ), picked AS (
                -- Place 0: a retry; 1: a head; 2, 3 …: the chain behind it.
                SELECT o.lap, o.endpoint_id, o.stream, u.id, u.place FROM open_streams o
                CROSS JOIN LATERAL (
                    SELECT r.id, 0::bigint AS place FROM unnest(o.retries) AS r(id)
                    UNION ALL
                    SELECT c.id, c.place FROM unnest(o.chain) WITH ORDINALITY AS c(id, place)
                ) u
            ), ranked AS (
                -- Heads first, then seconds …: a cut keeps each chain whole from its head.
                SELECT p.*, row_number() OVER (PARTITION BY p.endpoint_id ORDER BY p.place, p.id) + coalesce(busy.used, 0) AS slot,
                       row_number() OVER (ORDER BY p.place, p.id) AS overall
                FROM picked p
                LEFT JOIN UNNEST(\(Array(partly.keys))::uuid[], \(Array(partly.values))::int[]) AS busy(endpoint_id, used)
                  ON busy.endpoint_id = p.endpoint_id
            ), candidates AS MATERIALIZED (
                -- Tested again once locked (the newest version of each row): another claim may have sent it, or
                -- tried it and set its next attempt, since this statement's snapshot.
                SELECT m.id, m.next_attempt_at, r.lap, r.endpoint_id, r.stream, r.place FROM webhook_messages m JOIN ranked r ON r.id = m.id
                WHERE r.slot <= \(maxHeld) AND r.overall <= \(limit)
                  AND m.status = 'pending' AND (m.lease_expires_at IS NULL OR m.lease_expires_at < now())
                FOR UPDATE OF m SKIP LOCKED
            ), whole AS (
                -- A chain's message is taken only if every one before it was locked here, and is still due: another
                -- claim holding or having tried one of them would otherwise see this one sent before it. (The due
                -- test is here, not in the locking scan: there, claims on the bench's backlog ran at half the rate,
                -- though the plan on a fresh table of the same size is the same either way.)
                SELECT c.*, c.place = 0 OR c.place = row_number() OVER (PARTITION BY c.endpoint_id, c.stream, c.place > 0 ORDER BY c.place) AS whole
                FROM candidates c WHERE c.next_attempt_at <= now()
            ), claimed AS (
                UPDATE webhook_messages m SET lease_owner = \(owner), lease_expires_at = now() + make_interval(secs => \(seconds)),
                       attempts = m.attempts + 1
                FROM whole w WHERE m.id = w.id AND w.whole
                RETURNING m.id, m.message_id, m.endpoint_id, m.stream, m.event_type, m.body, m.attempts, w.place, w.lap
            )
            SELECT id, message_id, endpoint_id, stream, event_type, body, attempts, place FROM claimed ORDER BY lap, endpoint_id, stream, id
            """
    }

    /// A 2xx attempt of a claimed message, for ``finishDelivered``.
    public struct Delivered: Sendable {
        public var id: Int64
        public var statusCode: Int
        public var latency: Duration
        public var responseExcerpt: String?

        public init(id: Int64, statusCode: Int, latency: Duration, responseExcerpt: String?) {
            self.id = id
            self.statusCode = statusCode
            self.latency = latency
            self.responseExcerpt = responseExcerpt
        }
    }

    /// Records many delivered attempts in one statement, each only if `owner` still holds its message; their endpoints'
    /// success is noted (at most once a second per endpoint: a busy endpoint's row is not rewritten per message).
    /// Returns the ids recorded; a missing one had lost its lease (another instance's attempt counts instead).
    public static func finishDelivered(_ delivered: [Delivered], owner: String, on connection: PostgresConnection, logger: Logger) async throws -> Set<Int64> {
        guard !delivered.isEmpty else { return [] }
        let rows = try await connection.query("""
            WITH r AS (
                SELECT * FROM UNNEST(\(delivered.map(\.id)), \(delivered.map(\.statusCode)), \(delivered.map { Self.milliseconds($0.latency) }),
                                     \(delivered.map { $0.responseExcerpt ?? "" }), \(delivered.map { $0.responseExcerpt != nil }))
                    AS r(id, code, latency, excerpt, has_excerpt)
            ), moved AS (
                UPDATE webhook_messages m SET status = 'delivered', lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = now(),
                       last_status_code = r.code, last_error = NULL, delivered_at = now()
                FROM r WHERE m.id = r.id AND m.lease_owner = \(owner) AND m.status = 'pending'
                RETURNING m.id, m.endpoint_id
            ), attempts AS (
                INSERT INTO webhook_attempts (message_id, status_code, latency_ms, response_excerpt)
                SELECT r.id, r.code, r.latency, CASE WHEN r.has_excerpt THEN r.excerpt END FROM moved JOIN r ON r.id = moved.id
            ), endpoints AS (
                UPDATE webhook_endpoints e SET last_success_at = now(), failing_since = NULL
                WHERE e.id IN (SELECT endpoint_id FROM moved)
                  AND (e.failing_since IS NOT NULL OR e.last_success_at IS NULL OR e.last_success_at < now() - interval '1 second')
            )
            SELECT id FROM moved
            """, logger: logger)
        var recorded = Set<Int64>()
        for try await id in rows.decode(Int64.self) { recorded.insert(id) }
        return recorded
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Records an attempt and moves the message on, if `owner` still holds it. False when the lease was lost (another
    /// instance took the message over; its attempt counts instead).
    public static func finish(
        id: Int64, owner: String, _ result: WebhookAttemptResult, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        let status: WebhookMessageStatus
        var delay: Double = 0
        switch result.next {
        case .delivered: status = .delivered
        case .failed: status = .failed
        case .retry(let after):
            status = .pending
            delay = Double(after.components.seconds) + Double(after.components.attoseconds) / 1e18
        }
        let latency = milliseconds(result.latency)
        let rows = try await connection.query("""
            WITH moved AS (
                UPDATE webhook_messages SET status = \(status.rawValue), lease_owner = NULL, lease_expires_at = NULL,
                    next_attempt_at = now() + make_interval(secs => \(delay)), last_status_code = \(result.statusCode),
                    last_error = \(result.error), delivered_at = CASE WHEN \(status.rawValue) = 'delivered' THEN now() END
                WHERE id = \(id) AND lease_owner = \(owner) AND status = 'pending'
                RETURNING id
            )
            INSERT INTO webhook_attempts (message_id, status_code, latency_ms, response_excerpt, error)
            SELECT id, \(result.statusCode), \(latency), \(result.responseExcerpt), \(result.error) FROM moved
            RETURNING 1
            """, logger: logger).collect()
        return rows.count == 1
    }

    /// Gives a claimed message back untried (its endpoint had no free slot here): the attempt is not counted.
    public static func release(id: Int64, owner: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE webhook_messages SET lease_owner = NULL, lease_expires_at = NULL, attempts = attempts - 1
            WHERE id = \(id) AND lease_owner = \(owner) AND status = 'pending'
            """, logger: logger)
    }

    static let columns = """
        id, message_id, endpoint_id, event_type, company_id, status, attempts, next_attempt_at, last_status_code, last_error,
        created_at, delivered_at
        """

    static func decode(_ rows: [PostgresRow]) throws -> [WebhookMessageRecord] {
        try rows.map { row in
            let (id, messageId, endpoint, type, company, status, attempts, next, code, error, created, delivered) =
                try row.decode((Int64, String, UUID, String, UUID?, String, Int, Date?, Int?, String?, Date, Date?).self)
            return WebhookMessageRecord(
                id: id, messageId: messageId, endpointId: endpoint, eventType: type, companyId: company,
                status: WebhookMessageStatus(rawValue: status) ?? .failed, attempts: attempts,
                nextAttemptAt: status == "pending" ? next : nil, lastStatusCode: code, lastError: error, createdAt: created, deliveredAt: delivered)
        }
    }

    /// An endpoint's messages, newest first, a keyset page before `before` (a message's row id).
    public static func list(
        endpointId: UUID, status: WebhookMessageStatus?, before: Int64?, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [WebhookMessageRecord] {
        try decode(try await connection.query("""
            SELECT \(unescaped: columns) FROM webhook_messages
            WHERE endpoint_id = \(endpointId) AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
              AND (\(before)::bigint IS NULL OR id < \(before))
            ORDER BY id DESC LIMIT \(limit)
            """, logger: logger).collect())
    }

    public static func get(messageId: String, on connection: PostgresConnection, logger: Logger) async throws -> WebhookMessageRecord? {
        try decode(try await connection.query("SELECT \(unescaped: columns) FROM webhook_messages WHERE message_id = \(messageId)",
                                              logger: logger).collect()).first
    }

    public static func attempts(messageId: String, on connection: PostgresConnection, logger: Logger) async throws -> [WebhookAttemptRecord] {
        let rows = try await connection.query("""
            SELECT a.attempted_at, a.status_code, a.latency_ms, a.response_excerpt, a.error
            FROM webhook_attempts a JOIN webhook_messages m ON m.id = a.message_id
            WHERE m.message_id = \(messageId) ORDER BY a.id
            """, logger: logger)
        var attempts: [WebhookAttemptRecord] = []
        for try await (at, code, latency, excerpt, error) in rows.decode((Date, Int?, Int, String?, String?).self) {
            attempts.append(WebhookAttemptRecord(attemptedAt: at, statusCode: code, latencyMs: latency, responseExcerpt: excerpt, error: error))
        }
        return attempts
    }

    /// Due again now, its attempts counted afresh, its `webhook-id` kept. False when there is no such message.
    public static func resend(messageId: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.query("""
            UPDATE webhook_messages SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_owner = NULL, lease_expires_at = NULL
            WHERE message_id = \(messageId) RETURNING 1
            """, logger: logger).collect().count == 1
    }

    /// Every failed message of the endpoint created since `since`, due again now. Returns how many.
    public static func recover(endpointId: UUID, since: Date, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("""
            WITH recovered AS (
                UPDATE webhook_messages SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_owner = NULL, lease_expires_at = NULL
                WHERE endpoint_id = \(endpointId) AND status = 'failed' AND created_at >= \(since) RETURNING 1
            )
            SELECT count(*)::int FROM recovered
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// An endpoint was disabled: its pending messages are kept as failed, for `recover`.
    public static func failPending(endpointId: UUID, reason: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE webhook_messages SET status = 'failed', last_error = coalesce(last_error || '; ', '') || \(reason),
                   lease_owner = NULL, lease_expires_at = NULL
            WHERE endpoint_id = \(endpointId) AND status = 'pending'
            """, logger: logger)
    }

    /// Messages waiting, every endpoint together.
    public static func pendingCount(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("SELECT count(*)::int FROM webhook_messages WHERE status = 'pending'", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Pending and failed messages per endpoint.
    public static func countsByEndpoint(on connection: PostgresConnection, logger: Logger) async throws -> [UUID: (pending: Int, failed: Int)] {
        let rows = try await connection.query("""
            SELECT endpoint_id, count(*) FILTER (WHERE status = 'pending')::int, count(*) FILTER (WHERE status = 'failed')::int
            FROM webhook_messages WHERE status <> 'delivered' GROUP BY endpoint_id
            """, logger: logger)
        var counts: [UUID: (pending: Int, failed: Int)] = [:]
        for try await (id, pending, failed) in rows.decode((UUID, Int, Int).self) { counts[id] = (pending, failed) }
        return counts
    }

    /// Deletes finished messages (and their attempts) older than `retention`, `batch` at a time. Returns how many.
    public static func deleteExpired(olderThan retention: Duration, batch: Int = 5_000, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let seconds = Double(retention.components.seconds)
        var total = 0
        while true {
            let rows = try await connection.query("""
                WITH doomed AS (
                    SELECT id FROM webhook_messages WHERE created_at < now() - make_interval(secs => \(seconds)) AND status <> 'pending'
                    ORDER BY created_at LIMIT \(batch)
                ), gone AS (DELETE FROM webhook_messages m USING doomed d WHERE m.id = d.id RETURNING 1)
                SELECT count(*)::int FROM gone
                """, logger: logger)
            var deleted = 0
            for try await count in rows.decode(Int.self) { deleted = count }
            total += deleted
            if deleted < batch { return total }
        }
    }
}
