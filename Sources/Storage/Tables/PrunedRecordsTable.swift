import Foundation
import Logging
import PostgresNIO

/// SQL for `pruned_records`: records Nango served pruned (payload emptied) that we never stored. They exist at Nango
/// and count in its record count, so the drift check counts them as held.
public enum PrunedRecordsTable {
    /// Remembers `recordIds` of `model` served pruned and not stored.
    public static func remember(_ recordIds: [String], companyId: UUID, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        guard !recordIds.isEmpty else { return }
        try await connection.query("""
            INSERT INTO pruned_records (company_id, model, record_id) SELECT \(companyId), \(model), r FROM UNNEST(\(recordIds)::text[]) AS r
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    /// Forgets records Nango deleted, or that were stored after all.
    public static func forget(_ recordIds: [String], companyId: UUID, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        guard !recordIds.isEmpty else { return }
        try await connection.query("""
            DELETE FROM pruned_records WHERE company_id = \(companyId) AND model = \(model) AND record_id = ANY(\(recordIds)::text[])
            """, logger: logger)
    }

    /// After a complete full re-read: the pruned records it no longer saw are gone at Nango.
    public static func forgetUnseen(resyncId: Int64, companyId: UUID, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            DELETE FROM pruned_records p WHERE p.company_id = \(companyId) AND p.model = \(model)
              AND NOT EXISTS (SELECT 1 FROM full_resync_seen s WHERE s.resync_id = \(resyncId) AND s.record_id = p.record_id)
            """, logger: logger)
    }
}
