import Foundation
import Logging
import PostgresNIO

extension WebhookEndpointsTable {
    /// How many endpoints there are and when one last changed (created, enabled, disabled, rotated): what the console's
    /// live pages compare. A small table, read whole.
    public static func lastChange(on connection: PostgresConnection, logger: Logger) async throws -> String {
        let rows = try await connection.query("""
            SELECT count(*)::int, coalesce(floor(extract(epoch FROM max(updated_at)) * 1000000), 0)::bigint FROM webhook_endpoints
            """, logger: logger)
        for try await (count, micros) in rows.decode((Int, Int64).self) { return "\(count).\(micros)" }
        return "0.0"
    }
}
