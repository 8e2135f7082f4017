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
        guard let id = try await request(all: [(identity, model, reason)], on: db, logger: logger).first else {
            throw StorageError.noRowReturned("jobs insert")
        }
        return id
    }

    /// Many (connection, model) pairs, in three statements however many. Returns the job ids, in input order.
    func request(
        all requests: [(identity: ConnectionIdentity, model: String, reason: String)], on db: PostgresConnection, logger: Logger
    ) async throws -> [Int64] {
        try await FullResyncsTable.request(all: requests, on: db, logger: logger)
        let maxAttempts = registry.current?.defaults.retry.maxAttempts ?? 8
        return try await JobsTable.enqueueOrWaiting(
            requests.map { FullResyncJob($0.identity, model: $0.model, reason: $0.reason).newJob(maxAttempts: maxAttempts) }, on: db, logger: logger)
    }

    /// Ops: the model a pipeline reads, for every company it reads (or one). Returns the job ids.
    public func request(pipeline name: String, companyId: UUID?, logger: Logger) async throws -> [Int64] {
        guard let set = registry.current else { throw PipelineActionError.noPipelinesLoaded }
        guard let pipeline = set.pipeline(named: name) else { throw PipelineActionError.unknownPipeline(name) }
        guard pipeline.enabled else { throw PipelineActionError.disabledPipeline(name) }
        return try await database.withTransaction(logger: logger) { db in
            let companies = try await CompaniesTable.syncable(pipeline.source.selector, companyId: companyId, on: db, logger: logger)
            return try await request(all: companies.map { ($0.identity, pipeline.source.model, "ops request") }, on: db, logger: logger)
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
            let due = try await FullResyncsTable.due(scheduled, on: db, logger: logger)
            return try await request(all: due.map { ($0.identity, $0.model, "schedule") }, on: db, logger: logger)
        }
    }
}
