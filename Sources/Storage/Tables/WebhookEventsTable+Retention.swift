import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

extension WebhookEventsTable {
    /// Retention: handled events older than `age` go; unhandled ones stay until handled. Returns how many went.
    ///
    /// In batches of `batchSize`, each its own statement: one `DELETE` of a week of webhooks would hold its locks
    /// and write its WAL in one go. Each batch starts where the last one ended, so the old events that stay (failed,
    /// or their job dead) are walked over once a run, not once a batch.
    public static func deleteHandled(
        olderThan age: Duration, batchSize: Int = 1000, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        var total = 0
        var after: Position?
        while true {
            let rows = try await connection.query(deleteHandledQuery(olderThan: age, after: after, limit: batchSize), logger: logger)
            var deleted = 0
            for try await (microseconds, id) in rows.decode((Int64, Int64).self) {
                deleted += 1
                if after.map({ ($0.receivedAtMicroseconds, $0.id) < (microseconds, id) }) ?? true {
                    after = Position(receivedAtMicroseconds: microseconds, id: id)
                }
            }
            total += deleted
            if deleted < batchSize { return total }
        }
    }

    /// One batch, oldest first along `webhook_events_received_idx`, after `after`. A row another transaction holds
    /// is skipped rather than waited on: the next run takes it.
    static func deleteHandledQuery(olderThan age: Duration, after: Position?, limit: Int) -> PostgresQuery {
        """
        WITH doomed AS (
            SELECT e.id FROM webhook_events e
            WHERE e.received_at < now() - make_interval(secs => \(Double(age.components.seconds)))
              AND (\(after?.id)::bigint IS NULL
                   OR (e.received_at, e.id) > ('epoch'::timestamptz + \(after?.receivedAtMicroseconds)::bigint * interval '1 microsecond', \(after?.id)))
              AND e.status IN ('processed', 'ignored')
              AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id AND j.status IN ('queued', 'failed', 'running', 'dead'))
            ORDER BY e.received_at, e.id LIMIT \(limit)
            FOR UPDATE OF e SKIP LOCKED
        )
        DELETE FROM webhook_events USING doomed WHERE webhook_events.id = doomed.id
        RETURNING (extract(epoch FROM webhook_events.received_at) * 1000000)::int8, webhook_events.id
        """
    }
}
