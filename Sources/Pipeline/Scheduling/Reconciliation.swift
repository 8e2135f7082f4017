import Foundation
import Logging
import MarketplaceCore
import Storage

/// The scheduler's queueing rounds: webhooks are hints, so stale syncs are queued by polling, and tokens
/// about to expire are refreshed. Jobs are built through their contracts, as everywhere else.
public struct Reconciliation: Sendable {
    let database: Database
    let registry: PipelineRegistry

    public init(database: Database, registry: PipelineRegistry) {
        self.database = database
        self.registry = registry
    }

    /// A sync for every active company's model whose last run is older than `maxAge`, unless one is waiting or running.
    public func enqueueStaleSyncs(maxAge: Duration, logger: Logger) async throws -> Int {
        guard let set = registry.current else { return 0 }
        let sources = set.sources.map(\.selector)
        return try await database.withConnection { db in
            let stale = try await SyncStateTable.stale(sources: sources, maxAge: maxAge, on: db, logger: logger)
            let jobs = stale.map { SyncJob($0.identity, model: $0.model, reason: "reconciliation").newJob(maxAttempts: set.defaults.retry.maxAttempts) }
            return try await JobsTable.enqueueUnlessWaiting(jobs, orRunning: true, on: db, logger: logger).count
        }
    }

    /// A `connection.refresh` for every company whose token expires within `window` (every company with `all`).
    public func enqueueCredentialRefreshes(within window: Duration, all: Bool, logger: Logger) async throws -> [Int64] {
        try await database.withConnection { db in
            let due = try await ConnectionCredentialsTable.dueForRefresh(within: window, all: all, on: db, logger: logger)
            let jobs = due.map { ConnectionJob(.refresh, $0).newJob(maxAttempts: 3) }
            return try await JobsTable.enqueueUnlessWaiting(jobs, orRunning: true, on: db, logger: logger)
        }
    }
}
