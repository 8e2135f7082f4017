import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// A place in the change log: the writing transaction's id (or a larger one the row carried forward) and the
/// sequence number drawn after the write (migration 0022). Positions order every change ever written.
public struct ChangePosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var xid: UInt64
    public var seq: Int64

    public init(xid: UInt64, seq: Int64) {
        self.xid = xid
        self.seq = seq
    }

    /// Past every change written by transactions whose id is below `bound`: where a reader that has read them all stands.
    public static func end(below bound: UInt64) -> ChangePosition {
        ChangePosition(xid: bound == 0 ? 0 : bound - 1, seq: .max)
    }

    public static func < (lhs: ChangePosition, rhs: ChangePosition) -> Bool {
        (lhs.xid, lhs.seq) < (rhs.xid, rhs.seq)
    }

    public var description: String { "\(xid).\(seq)" }
}

/// One committed change, as the feed renders it.
public struct ChangeRecord: Sendable, Equatable {
    public var position: ChangePosition
    public var companyId: UUID
    public var resource: Resource
    public var resourceId: UUID
    public var externalId: String?
    public var kind: ChangeKind
    public var occurredAt: String
    /// The row as its list endpoint renders it (JSON object text).
    public var data: String
}

extension ChangeRecord {
    /// The change as the feeds and outbound messages render it (docs/changes.md), appended to `body`.
    public func writeJSON(to body: inout String) {
        body += "{\"id\":\"\(position.seq)\",\"type\":\"\(resource.singular).\(kind.rawValue)\""
        body += ",\"resource\":\"\(resource.rawValue)\",\"resource_id\":\"\(resourceId.lowercasedString)\""
        body += ",\"company_id\":\"\(companyId.lowercasedString)\",\"external_id\":"
        if let externalId = externalId { JSONValue.writeString(externalId, to: &body) } else { body += "null" }
        body += ",\"version\":\(position.seq),\"occurred_at\":\"\(occurredAt)\",\"data\":"
        body += data
        body += "}"
    }
}

/// A read of the change log: the changes after a position, and where a reader that took them all stands.
public struct ChangeRead: Sendable {
    public var changes: [ChangeRecord]
    /// Whether more changes were readable after the last one returned.
    public var hasMore: Bool
    /// Every change below the bound (`change_log_bound()`, migration 0029) is final: the position past all of them.
    public var end: ChangePosition

    public init(changes: [ChangeRecord], hasMore: Bool, end: ChangePosition) {
        self.changes = changes
        self.hasMore = hasMore
        self.end = end
    }
}

/// SQL for `changes` and `change_log_horizon`. Rows are written only by migration 0022's triggers, in the writer's
/// own transaction; this reads them, and retention deletes them.
public enum ChangesTable {
    /// Up to `limit` changes after `after`, oldest first: of one company, or of every company when `companyId` is
    /// nil; of `resources` only when given. Only positions below `change_log_bound()` are read, so a transaction that
    /// commits later can never add a change before one already handed out.
    public static func read(
        companyId: UUID?, after: ChangePosition, resources: Set<Resource>?, limit: Int,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> ChangeRead {
        let query = readQuery(companyId: companyId, after: after, resources: resources, limit: limit)
        return try await ChangeLogBound.reading {
            let rows = try await connection.query(query, logger: logger)
            var bound: UInt64 = 0
            var ended = false
            var changes: [ChangeRecord] = []
            for try await row in rows {
                let (boundText, boundEnded, xid, seq, company, resource, resourceId, externalId, kind, occurredAt, data) =
                    try row.decode((String, Bool, String?, Int64?, UUID?, String?, UUID?, String?, String?, String?, String?).self)
                bound = UInt64(boundText) ?? 0
                ended = boundEnded
                guard let xid, let seq, let company, let resource, let resourceId, let kind, let occurredAt, let data,
                      let position = UInt64(xid).map({ ChangePosition(xid: $0, seq: seq) }),
                      let typedResource = Resource(rawValue: resource), let typedKind = ChangeKind(rawValue: kind) else { continue }
                changes.append(ChangeRecord(position: position, companyId: company, resource: typedResource, resourceId: resourceId,
                                            externalId: externalId, kind: typedKind, occurredAt: occurredAt, data: data))
            }
            let hasMore = changes.count > limit
            if hasMore { changes.removeLast() }
            let last = changes.last?.position ?? after
            let end = hasMore ? last : max(last, .end(below: bound))
            // A full page ends at its last change, wherever the bound stands.
            return (ChangeRead(changes: changes, hasMore: hasMore, end: end), retake: ended && !hasMore)
        }
    }

    /// The statement ``read(companyId:after:resources:limit:on:logger:)`` sends (`limit + 1` rows: the extra one says
    /// whether more follow), after ``ChangeLogBound/cte``.
    static func readQuery(companyId: UUID?, after: ChangePosition, resources: Set<Resource>?, limit: Int) -> PostgresQuery {
        var bindings = PostgresBindings()
        bindings.append(String(after.xid))
        bindings.append(after.seq)
        bindings.append(limit + 1)
        bindings.append(resources.map { $0.map(\.rawValue).sorted() })
        if let companyId { bindings.append(companyId) }
        let sql = ChangeLogBound.cte + """

            SELECT bound.xid::text, bound.ended, c.xid::text, c.seq, c.company_id, c.resource, c.resource_id, c.external_id, c.kind,
                   to_char(c.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), c.data::text
            FROM bound LEFT JOIN LATERAL (
                SELECT * FROM changes c
                WHERE \(companyId == nil ? "" : "c.company_id = $5 AND ")(c.xid, c.seq) > ($1::xid8, $2::bigint)
                  AND c.xid < bound.xid
                  AND ($4::text[] IS NULL OR c.resource = ANY($4::text[]))
                ORDER BY \(companyId == nil ? "" : "c.company_id, ")c.xid, c.seq
                LIMIT $3
            ) c ON true
            """
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    /// The channel migration 0022's triggers notify, at commit, with the company's id.
    public static let channel = "changes"

    /// Where the log ends now: past every change a reader can already read.
    public static func head(on connection: PostgresConnection, logger: Logger) async throws -> ChangePosition {
        .end(below: try await ChangeLogBound.current(on: connection, logger: logger))
    }

    /// The bound now, and the companies with changes below it and not below `since` (an earlier bound): whose
    /// changes became readable since then; with no `since`, the bound alone. The change feed's listener asks once a
    /// tick while requests are held.
    public static func readable(since: UInt64?, on connection: PostgresConnection, logger: Logger) async throws -> (bound: UInt64, companies: Set<UUID>) {
        guard let since else { return (try await ChangeLogBound.current(on: connection, logger: logger), []) }
        var bindings = PostgresBindings()
        bindings.append(String(since))
        let query = PostgresQuery(unsafeSQL: ChangeLogBound.cte + """

            SELECT bound.xid::text, bound.ended, c.company_id
            FROM bound LEFT JOIN LATERAL (
                SELECT DISTINCT company_id FROM changes WHERE xid >= $1::xid8 AND xid < bound.xid
            ) c ON true
            """, binds: bindings)
        return try await ChangeLogBound.reading {
            var bound: UInt64 = 0
            var ended = false
            var companies = Set<UUID>()
            for try await (boundText, boundEnded, company) in try await connection.query(query, logger: logger).decode((String, Bool, UUID?).self) {
                bound = UInt64(boundText) ?? 0
                ended = boundEnded
                if let company { companies.insert(company) }
            }
            return ((bound, companies), retake: ended)
        }
    }

    /// The last position retention deleted: a reader behind it may have missed changes.
    public static func horizon(on connection: PostgresConnection, logger: Logger) async throws -> ChangePosition {
        let rows = try await connection.query("SELECT xid::text, seq FROM change_log_horizon", logger: logger)
        for try await (xid, seq) in rows.decode((String, Int64).self) { return ChangePosition(xid: UInt64(xid) ?? 0, seq: seq) }
        return ChangePosition(xid: 0, seq: 0)
    }

    /// Deletes changes older than `retention`, oldest positions first, `batch` at a time, each batch in its own
    /// transaction with the horizon moved past it. Returns how many.
    public static func deleteExpired(
        olderThan retention: Duration, batch: Int = 10_000, database: Database, logger: Logger
    ) async throws -> Int {
        let seconds = Double(retention.components.seconds)
        var total = 0
        while true {
            let deleted = try await database.withTransaction(logger: logger) { db -> Int in
                let rows = try await db.query("""
                    WITH doomed AS (
                        SELECT xid, seq FROM changes WHERE occurred_at < now() - make_interval(secs => \(seconds))
                        ORDER BY xid, seq LIMIT \(batch) FOR UPDATE SKIP LOCKED
                    ), gone AS (
                        DELETE FROM changes c USING doomed d WHERE c.xid = d.xid AND c.seq = d.seq RETURNING c.xid, c.seq
                    ), last AS (
                        SELECT xid, seq FROM gone ORDER BY xid DESC, seq DESC LIMIT 1
                    ), moved AS (
                        UPDATE change_log_horizon h SET xid = last.xid, seq = last.seq FROM last
                        WHERE (last.xid, last.seq) > (h.xid, h.seq) RETURNING 1
                    )
                    SELECT (SELECT count(*)::int FROM gone)
                    """, logger: logger)
                for try await count in rows.decode(Int.self) { return count }
                return 0
            }
            total += deleted
            if deleted < batch { return total }
        }
    }
}
