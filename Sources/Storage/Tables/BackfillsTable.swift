import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// SQL for `pipeline_backfills`: each (pipeline, company) backfill's own cursor in Nango's stream.
public enum BackfillsTable {
    /// Asks for a backfill from the start. One still running keeps its cursor (it reads to the end anyway);
    /// a finished one starts over.
    public static func request(pipeline: String, companyId: UUID, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await request(all: [(pipeline, companyId, model)], on: connection, logger: logger)
    }

    /// Many at once, in one statement (a pipeline newly enabled for every company that synced its model).
    public static func request(
        all requests: [(pipeline: String, companyId: UUID, model: String)], on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !requests.isEmpty else { return }
        // One row a (pipeline, company): an upsert may not touch a row twice in one statement.
        try await connection.query("""
            INSERT INTO pipeline_backfills (pipeline, company_id, model)
            SELECT DISTINCT ON (r.pipeline, r.company_id) r.pipeline, r.company_id, r.model
            FROM UNNEST(\(requests.map(\.pipeline))::text[], \(requests.map(\.companyId))::uuid[], \(requests.map(\.model))::text[])
                WITH ORDINALITY AS r(pipeline, company_id, model, n)
            ORDER BY r.pipeline, r.company_id, r.n DESC
            ON CONFLICT (pipeline, company_id) DO UPDATE SET
                cursor = CASE WHEN pipeline_backfills.finished_at IS NULL THEN pipeline_backfills.cursor END,
                model = EXCLUDED.model, requested_at = now(), finished_at = NULL
            """, logger: logger)
    }

    /// Where the backfill stands: nil when none was asked for or it has finished.
    public static func pendingCursor(pipeline: String, companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws -> String?? {
        let rows = try await connection.query("""
            SELECT cursor FROM pipeline_backfills WHERE pipeline = \(pipeline) AND company_id = \(companyId) AND finished_at IS NULL
            """, logger: logger)
        for try await cursor in rows.decode(String?.self) { return .some(cursor) }
        return .none
    }

    /// Moves the backfill's cursor past a committed page (in the page's transaction).
    public static func advance(pipeline: String, companyId: UUID, cursor: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE pipeline_backfills SET cursor = \(cursor) WHERE pipeline = \(pipeline) AND company_id = \(companyId)
            """, logger: logger)
    }

    public static func finish(pipeline: String, companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE pipeline_backfills SET finished_at = now() WHERE pipeline = \(pipeline) AND company_id = \(companyId)
            """, logger: logger)
    }
}
