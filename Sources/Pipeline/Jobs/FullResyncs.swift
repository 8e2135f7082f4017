import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Storage

/// Asking for full resyncs — by ops, on a pipeline's schedule, or when Nango says it started over — in one
/// place: the resync row first (its own cursor), then its job (one already waiting is reused).
public struct FullResyncs: Sendable {
    let database: Database
    let registry: PipelineRegistry

    public init(database: Database, registry: PipelineRegistry) {
        self.database = database
        self.registry = registry
    }

    /// One (connection, model), inside the caller's transaction or connection. Returns the job id.
    public func request(
        _ identity: ConnectionIdentity, model: String, reason: String, on db: PostgresConnection, logger: Logger
    ) async throws -> Int64 {
        try await FullResyncsTable.request(identity, model: model, reason: reason, on: db, logger: logger)
        let job = FullResyncJob(identity, model: model, reason: reason)
        return try await JobsTable.enqueueOrWaiting(
            job.newJob(maxAttempts: registry.current?.defaults.retry.maxAttempts ?? 8), on: db, logger: logger)
    }

    /// Ops: the model a pipeline reads, for every company it reads (or one). Returns the job ids.
    public func request(pipeline name: String, companyId: UUID?, logger: Logger) async throws -> [Int64] {
        guard let set = registry.current else { throw PipelineActionError.noPipelinesLoaded }
        guard let pipeline = set.pipeline(named: name) else { throw PipelineActionError.unknownPipeline(name) }
        guard pipeline.enabled else { throw PipelineActionError.disabledPipeline(name) }
        return try await database.withTransaction(logger: logger) { db in
            var ids: [Int64] = []
            for company in try await CompaniesTable.syncable(pipeline.source.selector, companyId: companyId, on: db, logger: logger) {
                ids.append(try await request(company.identity, model: pipeline.source.model, reason: "ops request", on: db, logger: logger))
            }
            return ids
        }
    }

    /// The schedule: every model whose pipelines ask for a periodic full resync and whose last one is older.
    public func enqueueDue(logger: Logger) async throws -> [Int64] {
        guard let set = registry.current else { return [] }
        let scheduled = set.pipelines.filter(\.enabled).compactMap { pipeline in
            pipeline.source.fullResync.map { (selector: pipeline.source.selector, every: $0) }
        }
        guard !scheduled.isEmpty else { return [] }
        return try await database.withTransaction(logger: logger) { db in
            var ids: [Int64] = []
            for due in try await FullResyncsTable.due(scheduled, on: db, logger: logger) {
                ids.append(try await request(due.identity, model: due.model, reason: "schedule", on: db, logger: logger))
            }
            return ids
        }
    }
}
