import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// SQL for `full_resyncs` and `full_resync_seen`: a model's whole stream read again, each id seen marked.
public enum FullResyncsTable {
    public struct Open: Sendable, Equatable {
        public var id: Int64
        public var cursor: String?
        public var startedAt: Date
    }

    /// Asks for a full resync; one already asked for (or running) is joined, not restarted.
    public static func request(
        _ identity: ConnectionIdentity, model: String, reason: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await request(all: [(identity, model, reason)], on: connection, logger: logger)
    }

    /// Many at once, in one statement (ops' resync of a model for every company).
    public static func request(
        all requests: [(identity: ConnectionIdentity, model: String, reason: String)], on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !requests.isEmpty else { return }
        try await connection.query("""
            INSERT INTO full_resyncs (integration_id, connection_id, model, reason)
            SELECT * FROM UNNEST(\(requests.map(\.identity.integrationId))::text[], \(requests.map(\.identity.connectionId))::text[],
                                 \(requests.map(\.model))::text[], \(requests.map(\.reason))::text[])
            ON CONFLICT (integration_id, connection_id, model) WHERE finished_at IS NULL DO NOTHING
            """, logger: logger)
    }

    /// The unfinished resync of a model, its start recorded on first use; nil when none was asked for.
    public static func begin(_ identity: ConnectionIdentity, model: String, on connection: PostgresConnection, logger: Logger) async throws -> Open? {
        let rows = try await connection.query("""
            UPDATE full_resyncs SET started_at = COALESCE(started_at, now())
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
              AND finished_at IS NULL
            RETURNING id, cursor, started_at
            """, logger: logger)
        for try await (id, cursor, started) in rows.decode((Int64, String?, Date).self) { return Open(id: id, cursor: cursor, startedAt: started) }
        return nil
    }

    /// Moves the resync's cursor past a committed page and marks the page's record ids seen (in the page's transaction).
    public static func advance(id: Int64, cursor: String, seen recordIds: [String], on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("UPDATE full_resyncs SET cursor = \(cursor) WHERE id = \(id)", logger: logger)
        guard !recordIds.isEmpty else { return }
        try await connection.query("""
            INSERT INTO full_resync_seen (resync_id, record_id) SELECT \(id), UNNEST(\(recordIds)::text[]) ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    /// In a transaction: true when the resync is still open, its row then locked until the transaction ends (so no
    /// other run can finish it, and drop its seen marks, in between).
    public static func lockOpen(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("SELECT id FROM full_resyncs WHERE id = \(id) AND finished_at IS NULL FOR UPDATE", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Closes a complete resync with its deletion count; its marks are no longer needed.
    public static func finish(id: Int64, deleted: Int, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("UPDATE full_resyncs SET finished_at = now(), deleted = \(deleted) WHERE id = \(id)", logger: logger)
        try await connection.query("DELETE FROM full_resync_seen WHERE resync_id = \(id)", logger: logger)
    }

    /// Active companies' models (among `sources`, each with its interval) already synced once, whose last complete
    /// resync (or first sync, when none) is older than the interval, and with none pending.
    public static func due(
        _ sources: [(selector: SourceSelector, every: Duration)], on connection: PostgresConnection, logger: Logger
    ) async throws -> [(identity: ConnectionIdentity, model: String)] {
        guard !sources.isEmpty else { return [] }
        let columns = sources.map(\.selector).unnestColumns
        let seconds = sources.map { Double($0.every.components.seconds) }
        let rows = try await connection.query("""
            SELECT DISTINCT c.integration_id, c.connection_id, s.model
            FROM companies c
            JOIN UNNEST(\(columns.integrations)::text[], \(columns.providers)::text[], \(columns.models)::text[], \(seconds)::float8[])
                AS s(integration_id, provider, model, every_seconds)
              ON s.integration_id = c.integration_id OR s.provider = c.provider
            JOIN sync_state st ON st.integration_id = c.integration_id AND st.connection_id = c.connection_id AND st.model = s.model
            WHERE c.status = \(CompanyStatus.active.rawValue) AND st.cursor IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM full_resyncs f WHERE f.integration_id = c.integration_id AND f.connection_id = c.connection_id
                                AND f.model = s.model AND f.finished_at IS NULL)
              AND COALESCE((SELECT max(f.finished_at) FROM full_resyncs f WHERE f.integration_id = c.integration_id
                              AND f.connection_id = c.connection_id AND f.model = s.model), st.created_at)
                  < now() - make_interval(secs => s.every_seconds)
            ORDER BY c.integration_id, c.connection_id, s.model
            """, logger: logger)
        var due: [(ConnectionIdentity, String)] = []
        for try await (integration, connectionId, model) in rows.decode((String, String, String).self) {
            due.append((ConnectionIdentity(integrationId: integration, connectionId: connectionId), model))
        }
        return due.map { (identity: $0.0, model: $0.1) }
    }
}
