import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// Records the pipeline rejected, as one page's worth of column arrays.
public struct QuarantineRows: Sendable {
    public var externalIds: [String] = []
    public var recordKeys: [String] = []
    /// Nango's modification time of each record ("" when it had none).
    public var sourceUpdatedAt: [String] = []
    /// `[{"field": …, "message": …}]` per record.
    public var reasons: [String] = []
    public var raw: [String] = []

    public init() {}

    public var count: Int { recordKeys.count }
}

/// An open (or closed) quarantine entry as ops see it.
public typealias QuarantineEntry = QuarantineTable.Entry

/// SQL for `quarantine`.
public enum QuarantineTable {
    /// One open entry per (pipeline, company, record): a record rejected again refreshes its entry.
    public static func upsert(
        _ rows: QuarantineRows, pipeline: String, companyId: UUID, connectionId: String, model: String, runId: Int64?,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard rows.count > 0 else { return }
        try await connection.query("""
            INSERT INTO quarantine (pipeline, company_id, connection_id, model, external_id, record_key, reasons, raw, run_id, source_updated_at)
            SELECT \(pipeline), \(companyId), \(connectionId), \(model), NULLIF(q.external_id, ''), q.record_key, q.reasons::jsonb, q.raw::jsonb, \(runId),
                   NULLIF(q.source_updated_at, '')::timestamptz
            FROM UNNEST(\(rows.externalIds)::text[], \(rows.recordKeys)::text[], \(rows.reasons)::text[], \(rows.raw)::text[],
                        \(rows.sourceUpdatedAt)::text[])
                 AS q(external_id, record_key, reasons, raw, source_updated_at)
            ON CONFLICT (pipeline, company_id, record_key) WHERE status = 'open' DO UPDATE SET
                reasons = EXCLUDED.reasons, raw = EXCLUDED.raw, run_id = EXCLUDED.run_id, last_seen_at = now(),
                source_updated_at = COALESCE(EXCLUDED.source_updated_at, quarantine.source_updated_at)
            """, logger: logger)
    }

    /// Records that now pass, or that their source deleted, close their open entries: each as of its version's time
    /// (`sourceUpdatedAt`, as `Timestamps.format` writes it), so a page fetched before a newer, invalid version was
    /// quarantined (a backfill's, a resync's) leaves that entry open.
    public static func resolve(
        recordKeys: [String], sourceUpdatedAt: [String], pipeline: String, companyId: UUID, on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !recordKeys.isEmpty else { return }
        try await connection.query("""
            UPDATE quarantine q SET status = 'resolved', resolved_at = now()
            FROM UNNEST(\(recordKeys)::text[], \(sourceUpdatedAt)::text[]) AS r(record_key, source_updated_at)
            WHERE q.pipeline = \(pipeline) AND q.company_id = \(companyId) AND q.status = 'open' AND q.record_key = r.record_key
              AND (q.source_updated_at IS NULL OR q.source_updated_at <= r.source_updated_at::timestamptz)
            """, logger: logger)
    }

    /// After a complete full resync: open entries of records the read did not meet (Nango no longer holds them) close,
    /// as the rows of such records are soft-deleted. Entries seen again during the read were refreshed after it began.
    public static func resolveUnseen(
        resyncId: Int64, startedAt: Date, pipeline: String, model: String, companyId: UUID, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            UPDATE quarantine q SET status = 'resolved', resolved_at = now()
            WHERE q.pipeline = \(pipeline) AND q.company_id = \(companyId) AND q.model = \(model) AND q.status = 'open'
              AND q.last_seen_at < \(startedAt)
              AND NOT EXISTS (SELECT 1 FROM full_resync_seen s WHERE s.resync_id = \(resyncId) AND s.record_id = q.raw->>'id')
            """, logger: logger)
    }

    public struct Entry: Sendable, Equatable {
        public var id: Int64
        public var pipeline: String
        public var connectionId: String
        public var externalId: String?
        /// `[{"field": "email" | null, "message": "..."}]`: every reason the record failed.
        public var reasons: JSONValue
        public var status: String
        public var companyId: UUID?
        public var model: String
        /// The record as Nango sent it, so ops see the offending values.
        public var raw: String
        public var lastSeenAt: Date
    }
}

extension QuarantineTable {
    /// `field`: only entries with a reason on that target field.
    public static func list(
        pipeline: String?, companyId: UUID?, status: String, field: String? = nil, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Entry] {
        let rows = try await connection.query("""
            SELECT id, pipeline, connection_id, external_id, reasons::text, status, company_id, model, raw::text, last_seen_at FROM quarantine
            WHERE (\(pipeline)::text IS NULL OR pipeline = \(pipeline)) AND (\(companyId)::uuid IS NULL OR company_id = \(companyId))
              AND status = \(status)
              AND (\(field)::text IS NULL OR reasons @> jsonb_build_array(jsonb_build_object('field', \(field)::text)))
            ORDER BY last_seen_at DESC, id DESC LIMIT \(limit)
            """, logger: logger)
        var entries: [Entry] = []
        for try await row in rows.decode((Int64, String, String, String?, String, String, UUID?, String, String, Date).self) {
            entries.append(Entry(id: row.0, pipeline: row.1, connectionId: row.2, externalId: row.3,
                                 reasons: (try? JSONValue.parse(row.4.utf8)) ?? .string(row.4), status: row.5,
                                 companyId: row.6, model: row.7, raw: row.8, lastSeenAt: row.9))
        }
        return entries
    }

    /// The (pipeline, company) pairs with open entries, for a re-run after a pipeline fix.
    public static func openSources(
        pipeline: String?, companyId: UUID?, on connection: PostgresConnection, logger: Logger
    ) async throws -> [(pipeline: String, identity: ConnectionIdentity, companyId: UUID)] {
        let rows = try await connection.query("""
            SELECT DISTINCT q.pipeline, c.integration_id, c.connection_id, c.id FROM quarantine q JOIN companies c ON c.id = q.company_id
            WHERE q.status = 'open' AND (\(pipeline)::text IS NULL OR q.pipeline = \(pipeline)) AND (\(companyId)::uuid IS NULL OR q.company_id = \(companyId))
            """, logger: logger)
        var sources: [(String, String, String, UUID)] = []
        for try await row in rows.decode((String, String, String, UUID).self) { sources.append(row) }
        return sources.map { (pipeline: $0.0, identity: ConnectionIdentity(integrationId: $0.1, connectionId: $0.2), companyId: $0.3) }
    }
}

extension QuarantineTable {
    /// A pipeline's open quarantine entries for a company (their time: Nango's, else when last seen).
    public static func openRecords(pipeline: String, companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [StoredRecord] {
        let rows = try await connection.query("""
            SELECT raw::text, COALESCE(source_updated_at, last_seen_at) FROM quarantine
            WHERE pipeline = \(pipeline) AND company_id = \(companyId) AND status = 'open'
            ORDER BY id
            """, logger: logger)
        var records: [StoredRecord] = []
        for try await (raw, updated) in rows.decode((String, Date?).self) { records.append(StoredRecord(raw: raw, sourceUpdatedAt: updated)) }
        return records
    }
}

extension QuarantineTable {
    /// Open entries per pipeline: the overview's quarantine size.
    public static func openCounts(on connection: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        let rows = try await connection.query("SELECT pipeline, count(*)::int FROM quarantine WHERE status = 'open' GROUP BY 1", logger: logger)
        var counts: [String: Int] = [:]
        for try await (pipeline, count) in rows.decode((String, Int).self) { counts[pipeline] = count }
        return counts
    }

    /// Changes when an entry opens, closes or is re-run (its newest id and the open count, both from indexes; a
    /// refreshed entry changes neither): what the console's live pages watch.
    public static func lastChange(on connection: PostgresConnection, logger: Logger) async throws -> String {
        let rows = try await connection.query("""
            SELECT COALESCE((SELECT max(id) FROM quarantine), 0) || '|' || (SELECT count(*) FROM quarantine WHERE status = 'open')
            """, logger: logger)
        for try await signature in rows.decode(String.self) { return signature }
        return ""
    }
}

extension QuarantineTable {
    /// Open entries by pipeline and the field a reason names (nil: a reason about the whole record).
    public static func openByReason(on connection: PostgresConnection, logger: Logger) async throws -> [(pipeline: String, field: String?, count: Int)] {
        let rows = try await connection.query("""
            SELECT q.pipeline, NULLIF(r->>'field', ''), count(DISTINCT q.id)::int FROM quarantine q, jsonb_array_elements(q.reasons) r
            WHERE q.status = 'open' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
            """, logger: logger)
        var counts: [(String, String?, Int)] = []
        for try await row in rows.decode((String, String?, Int).self) { counts.append(row) }
        return counts.map { (pipeline: $0.0, field: $0.1, count: $0.2) }
    }
}
