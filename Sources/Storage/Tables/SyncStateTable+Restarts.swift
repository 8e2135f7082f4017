import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// The model's pending "Nango started over" mark (migration 0021).
extension SyncStateTable {
    /// Marks a model we hold (it has a cursor) as needing a full re-read. A model not read yet needs none: its first
    /// read starts from nothing anyway.
    public static func markNangoRestart(_ identity: ConnectionIdentity, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE sync_state SET nango_restarted_at = now(), updated_at = now()
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
              AND cursor IS NOT NULL
            """, logger: logger)
    }

    /// Whether a restart is marked that no complete full re-read has covered yet.
    public static func nangoRestartPending(_ identity: ConnectionIdentity, model: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("""
            SELECT 1 FROM sync_state
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
              AND nango_restarted_at IS NOT NULL
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// In a transaction: the model's sync state row locked until it ends. Writers that touch both take the sync state
    /// before the model's full resync row (a sync's success asks for a resync; a resync's end clears the mark).
    public static func lock(_ identity: ConnectionIdentity, model: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            SELECT 1 FROM sync_state
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
            FOR UPDATE
            """, logger: logger)
    }

    /// A complete full re-read that started at `readStartedAt` covers every restart marked before it; a restart marked
    /// since stays pending.
    public static func clearNangoRestart(
        _ identity: ConnectionIdentity, model: String, readStartedAt: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            UPDATE sync_state SET nango_restarted_at = NULL, updated_at = now()
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND model = \(model)
              AND nango_restarted_at <= \(readStartedAt)
            """, logger: logger)
    }
}
