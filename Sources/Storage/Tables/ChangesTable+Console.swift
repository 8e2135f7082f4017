import Foundation
import Logging
import PostgresNIO

/// One change as the console lists it: where it stands, what it was, when; not the row it carries.
public struct ChangeLogEntry: Sendable, Equatable {
    public var position: ChangePosition
    public var resource: Resource
    public var resourceId: UUID
    public var externalId: String?
    public var kind: ChangeKind
    public var occurredAt: Date

    /// The feed's `type`: `contact.updated`, `company.updated`.
    public var type: String { "\(resource.singular).\(kind.rawValue)" }
    /// The feed's `version`: the change's sequence number.
    public var version: Int64 { position.seq }
}

/// A company's end of the change log: its newest changes, newest first (the first is the head), and how many it has.
public struct CompanyChangeLog: Sendable, Equatable {
    public var latest: [ChangeLogEntry]
    /// Counted up to ``ChangesTable/companyCountCap``: a count of that many means that many or more.
    public var count: Int

    public var head: ChangeLogEntry? { latest.first }
}

/// What the ops console reads of the change log. Unlike the feed (``ChangesTable/read(companyId:after:resources:limit:on:logger:)``)
/// these read every committed change, also those still above the oldest running transaction: ops see what was written.
extension ChangesTable {
    /// Where a company's count stops: `changes_company_idx` is walked this far at most, however large the log.
    public static let companyCountCap = 100_000

    /// The company's `limit` newest changes in feed order (position descending) and its count: both walk
    /// `changes_company_idx` (the newest from its end, the count up to ``companyCountCap`` entries).
    public static func companyLog(
        companyId: UUID, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> CompanyChangeLog {
        // `c.xid`, qualified: a bare `xid` in ORDER BY would name the output column, the xid as text, sorted as text.
        let rows = try await connection.query("""
            SELECT c.xid::text, c.seq, c.resource, c.resource_id, c.external_id, c.kind, c.occurred_at FROM changes c
            WHERE c.company_id = \(companyId)
            ORDER BY c.xid DESC, c.seq DESC LIMIT \(limit)
            """, logger: logger)
        var latest: [ChangeLogEntry] = []
        for try await (xid, seq, resource, resourceId, externalId, kind, occurredAt) in rows.decode(
            (String, Int64, String, UUID, String?, String, Date).self) {
            guard let xid = UInt64(xid), let resource = Resource(rawValue: resource), let kind = ChangeKind(rawValue: kind) else { continue }
            latest.append(ChangeLogEntry(position: ChangePosition(xid: xid, seq: seq), resource: resource, resourceId: resourceId,
                                         externalId: externalId, kind: kind, occurredAt: occurredAt))
        }
        // `ORDER BY` keeps the count on the index (a sequential scan of a large log could read far past the cap).
        let counted = try await connection.query("""
            SELECT count(*)::int FROM (
                SELECT 1 FROM changes WHERE company_id = \(companyId) ORDER BY xid, seq LIMIT \(companyCountCap)
            ) c
            """, logger: logger)
        var count = 0
        for try await value in counted.decode(Int.self) { count = value }
        return CompanyChangeLog(latest: latest, count: count)
    }

    /// Changes per minute since `since`, every company's (minutes without any are absent): the overview's series,
    /// a range of `changes_occurred_idx` (migration 0023).
    public static func perMinute(since: Date, on connection: PostgresConnection, logger: Logger) async throws -> [(minute: Date, count: Int)] {
        let rows = try await connection.query("""
            SELECT date_trunc('minute', occurred_at), count(*)::int FROM changes
            WHERE occurred_at >= \(since) GROUP BY 1 ORDER BY 1
            """, logger: logger)
        var minutes: [(Date, Int)] = []
        for try await row in rows.decode((Date, Int).self) { minutes.append(row) }
        return minutes.map { (minute: $0.0, count: $0.1) }
    }
}
