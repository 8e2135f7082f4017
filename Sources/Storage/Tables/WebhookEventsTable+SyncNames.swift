import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

extension WebhookEventsTable {
    /// The sync names Nango reported for a connection's models (its sync webhooks carry both).
    public static func syncNames(_ identity: ConnectionIdentity, models: [String], on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        let rows = try await connection.query(syncNamesQuery(identity, models: models), logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        return names
    }

    /// A skip scan of `webhook_events_sync_names_idx`: per model, the first name, then the first one after it, and
    /// so on. A connection sends a sync webhook every few minutes for each model, and all of them name the same one
    /// or two syncs: a `DISTINCT` over its events would read every one of them to find those few names.
    static func syncNamesQuery(_ identity: ConnectionIdentity, models: [String]) -> PostgresQuery {
        """
        WITH RECURSIVE found (model, sync_name) AS (
            SELECT m.model, (SELECT e.sync_name FROM webhook_events e
                             WHERE e.type = 'sync' AND e.integration_id = \(identity.integrationId) AND e.connection_id = \(identity.connectionId)
                               AND e.model = m.model AND e.sync_name IS NOT NULL
                             ORDER BY e.sync_name LIMIT 1)
            FROM unnest(\(models)::text[]) AS m(model)
            UNION ALL
            SELECT f.model, (SELECT e.sync_name FROM webhook_events e
                             WHERE e.type = 'sync' AND e.integration_id = \(identity.integrationId) AND e.connection_id = \(identity.connectionId)
                               AND e.model = f.model AND e.sync_name IS NOT NULL AND e.sync_name > f.sync_name
                             ORDER BY e.sync_name LIMIT 1)
            FROM found f WHERE f.sync_name IS NOT NULL
        )
        SELECT DISTINCT sync_name FROM found WHERE sync_name IS NOT NULL ORDER BY sync_name
        """
    }
}
