import Foundation
import Logging
import PostgresNIO

/// A lifecycle event for outbound webhooks (`connection.*`, `sync.failed`), written by migration 0024's triggers.
public struct OutboundEventRecord: Sendable, Equatable {
    public var position: ChangePosition
    public var type: String
    public var companyId: UUID?
    /// A JSON object's text.
    public var data: String
    public var occurredAt: String
}

/// SQL for `outbound_events`, `outbound_dispatch` and `outbound_streams`: what the dispatcher reads besides the change
/// log, where it stands, and each (company, resource) stream's last position.
public enum OutboundLogTable {
    /// Lifecycle events after `after`, below `change_log_bound()` (as the change log is read), up to `limit`;
    /// and the position past all of them when fewer came back.
    public static func events(after: ChangePosition, limit: Int, on connection: PostgresConnection, logger: Logger)
        async throws -> (events: [OutboundEventRecord], end: ChangePosition) {
        var bindings = PostgresBindings()
        bindings.append(String(after.xid))
        bindings.append(after.seq)
        bindings.append(limit + 1)
        let query = PostgresQuery(unsafeSQL: ChangeLogBound.cte + """

            SELECT bound.xid::text, bound.ended, e.xid::text, e.seq, e.type, e.company_id, e.data::text,
                   to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            FROM bound LEFT JOIN LATERAL (
                SELECT * FROM outbound_events e
                WHERE (e.xid, e.seq) > ($1::xid8, $2::bigint) AND e.xid < bound.xid
                ORDER BY e.xid, e.seq LIMIT $3
            ) e ON true
            """, binds: bindings)
        return try await ChangeLogBound.reading {
            let rows = try await connection.query(query, logger: logger)
            var bound: UInt64 = 0
            var ended = false
            var events: [OutboundEventRecord] = []
            for try await (boundText, boundEnded, xid, seq, type, company, data, occurred)
                in rows.decode((String, Bool, String?, Int64?, String?, UUID?, String?, String?).self) {
                bound = UInt64(boundText) ?? 0
                ended = boundEnded
                guard let xid = xid.flatMap(UInt64.init), let seq, let type, let data, let occurred else { continue }
                events.append(OutboundEventRecord(position: ChangePosition(xid: xid, seq: seq), type: type, companyId: company, data: data, occurredAt: occurred))
            }
            if events.count > limit {
                events.removeLast()
                return ((events, events[events.count - 1].position), retake: false)
            }
            return ((events, max(events.last?.position ?? after, .end(below: bound))), retake: ended)
        }
    }

    /// The dispatcher's position, locked until the transaction ends; nil when another instance's dispatcher holds it.
    public static func lockPosition(on connection: PostgresConnection, logger: Logger) async throws -> ChangePosition? {
        let rows = try await connection.query("SELECT xid::text, seq FROM outbound_dispatch FOR UPDATE SKIP LOCKED", logger: logger)
        for try await (xid, seq) in rows.decode((String, Int64).self) { return ChangePosition(xid: UInt64(xid) ?? 0, seq: seq) }
        return nil
    }

    public static func movePosition(to position: ChangePosition, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("UPDATE outbound_dispatch SET xid = \(String(position.xid))::xid8, seq = \(position.seq)", logger: logger)
    }

    /// The last position each stream was sent up to, for the pairs asked; a stream not sent yet is absent.
    public static func streams(_ keys: [(companyId: UUID, resource: Resource)], on connection: PostgresConnection, logger: Logger)
        async throws -> [String: ChangePosition] {
        guard !keys.isEmpty else { return [:] }
        let rows = try await connection.query("""
            SELECT s.company_id, s.resource, s.xid::text, s.seq FROM outbound_streams s
            JOIN UNNEST(\(keys.map(\.companyId)), \(keys.map(\.resource.rawValue))) AS k(c, r) ON s.company_id = k.c AND s.resource = k.r
            """, logger: logger)
        var positions: [String: ChangePosition] = [:]
        for try await (company, resource, xid, seq) in rows.decode((UUID, String, String, Int64).self) {
            positions[streamKey(company, resource)] = ChangePosition(xid: UInt64(xid) ?? 0, seq: seq)
        }
        return positions
    }

    /// For each stream, the position of the change before `position` in the company's feed filtered to the resource
    /// (origin when none), keyed by ``streamKey(_:_:)``: one statement however many streams a batch starts.
    public static func previousChanges(
        before starts: [(companyId: UUID, resource: Resource, position: ChangePosition)], on connection: PostgresConnection, logger: Logger
    ) async throws -> [String: ChangePosition] {
        var positions: [String: ChangePosition] = [:]
        for start in starts { positions[streamKey(start.companyId, start.resource.rawValue)] = ChangePosition(xid: 0, seq: 0) }
        guard !starts.isEmpty else { return positions }
        let rows = try await connection.query("""
            SELECT k.c, k.r, p.xid::text, p.seq
            FROM UNNEST(\(starts.map(\.companyId))::uuid[], \(starts.map(\.resource.rawValue))::text[],
                        \(starts.map { String($0.position.xid) })::text[], \(starts.map(\.position.seq))::int8[]) AS k(c, r, x, s)
            CROSS JOIN LATERAL (
                SELECT xid, seq FROM changes
                WHERE company_id = k.c AND resource = k.r AND (xid, seq) < (k.x::xid8, k.s)
                ORDER BY company_id, xid DESC, seq DESC LIMIT 1) p
            """, logger: logger)
        for try await (company, resource, xid, seq) in rows.decode((UUID, String, String, Int64).self) {
            positions[streamKey(company, resource)] = ChangePosition(xid: UInt64(xid) ?? 0, seq: seq)
        }
        return positions
    }

    public static func saveStreams(_ positions: [(companyId: UUID, resource: Resource, position: ChangePosition)],
                                   on connection: PostgresConnection, logger: Logger) async throws {
        guard !positions.isEmpty else { return }
        try await connection.query("""
            INSERT INTO outbound_streams (company_id, resource, xid, seq)
            SELECT c, r, x::xid8, s FROM UNNEST(\(positions.map(\.companyId)), \(positions.map(\.resource.rawValue)),
                                                \(positions.map { String($0.position.xid) }), \(positions.map(\.position.seq))) AS u(c, r, x, s)
            ON CONFLICT (company_id, resource) DO UPDATE SET xid = EXCLUDED.xid, seq = EXCLUDED.seq
            """, logger: logger)
    }

    public static func streamKey(_ companyId: UUID, _ resource: String) -> String {
        companyId.uuidString.lowercased() + "/" + resource
    }

    /// Deletes lifecycle events older than `retention`. Returns how many.
    public static func deleteExpired(olderThan retention: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let seconds = Double(retention.components.seconds)
        let rows = try await connection.query("""
            WITH gone AS (DELETE FROM outbound_events WHERE occurred_at < now() - make_interval(secs => \(seconds)) RETURNING 1)
            SELECT count(*)::int FROM gone
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}
