import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// SQL for `jobs`, the queue.
public enum JobsTable {
    public static func enqueue(_ job: NewJob, eventID: Int64?, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let payload = String(decoding: try JSONEncoder().encode(job.payload), as: UTF8.self)
        let rows = try await connection.query("""
            INSERT INTO jobs (kind, payload, concurrency_key, event_id)
            VALUES (\(job.kind), \(payload)::jsonb, \(job.concurrencyKey), \(eventID))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw StorageError.noRowReturned("jobs insert")
    }
}
