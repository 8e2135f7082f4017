import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

extension WebhookEventsTable {
    /// When the inbox last stored Nango's successful `override` auth webhook for the connection, if at or after
    /// `since`: the proof that a reconnect really happened (read through the (integration, connection, received) index).
    public static func overrideReceived(
        _ identity: ConnectionIdentity, since: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> Date? {
        let rows = try await connection.query("""
            SELECT received_at FROM webhook_events
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId) AND received_at >= \(since)
              AND type = 'auth' AND operation = 'override' AND success
            ORDER BY received_at DESC, id DESC LIMIT 1
            """, logger: logger)
        for try await received in rows.decode(Date.self) { return received }
        return nil
    }
}
