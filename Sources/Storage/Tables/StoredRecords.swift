import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// A provider record as we already hold it: the raw fields Nango served, and its modification time.
public struct StoredRecord: Sendable, Equatable {
    public var raw: String
    public var sourceUpdatedAt: Date?

    public init(raw: String, sourceUpdatedAt: Date?) {
        self.raw = raw
        self.sourceUpdatedAt = sourceUpdatedAt
    }
}

/// The raw records a pipeline's output was made from, read back for a re-derivation: live rows of its
/// target, the company's profile, and its open quarantine entries.
public enum StoredRecordsTable {
    /// A keyset page of a company's live rows read from `model` (rows from before provenance was kept count
    /// when `includeUnattributed`).
    public static func rows(
        of resource: Resource, companyId: UUID, model: String, includeUnattributed: Bool, after: UUID?, limit: Int,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> (records: [StoredRecord], last: UUID?) {
        precondition(resource != .companies, "a company's profile is read with profile(companyId:)")
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT id, raw::text, source_updated_at FROM \(resource.rawValue)
            WHERE company_id = $1 AND deleted_at IS NULL AND (source_model = $2 OR ($3 AND source_model IS NULL))
              AND ($4::uuid IS NULL OR id > $4)
            ORDER BY id LIMIT $5
            """, binds: binds(companyId, model, includeUnattributed, after, limit)), logger: logger)
        var records: [StoredRecord] = []
        var last: UUID?
        for try await (id, raw, updated) in rows.decode((UUID, String, Date?).self) {
            records.append(StoredRecord(raw: raw, sourceUpdatedAt: updated))
            last = id
        }
        return (records, last)
    }

    /// The record the company's profile was taken from, if a pipeline wrote one.
    public static func profile(companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws -> StoredRecord? {
        let rows = try await connection.query("""
            SELECT raw::text, source_updated_at FROM companies WHERE id = \(companyId) AND raw IS NOT NULL
            """, logger: logger)
        for try await (raw, updated) in rows.decode((String, Date?).self) { return StoredRecord(raw: raw, sourceUpdatedAt: updated) }
        return nil
    }

    /// A pipeline's open quarantine entries for a company (their time: Nango's, else when last seen).
    public static func quarantined(pipeline: String, companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [StoredRecord] {
        let rows = try await connection.query("""
            SELECT raw::text, COALESCE(source_updated_at, last_seen_at) FROM quarantine
            WHERE pipeline = \(pipeline) AND company_id = \(companyId) AND status = 'open'
            ORDER BY id
            """, logger: logger)
        var records: [StoredRecord] = []
        for try await (raw, updated) in rows.decode((String, Date?).self) { records.append(StoredRecord(raw: raw, sourceUpdatedAt: updated)) }
        return records
    }

    static func binds(_ companyId: UUID, _ model: String, _ unattributed: Bool, _ after: UUID?, _ limit: Int) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(companyId)
        bindings.append(model)
        bindings.append(unattributed)
        bindings.append(after)
        bindings.append(limit)
        return bindings
    }
}
