import Connections
import Foundation
import Logging
import MarketplaceCore
import Metrics
import Nango
import PostgresNIO
import Storage

/// A sync of one (connection, model): pages Nango's change stream from the checkpoint through every
/// pipeline that reads the model, each page committed with the checkpoint's advance.
public struct SyncRunner: JobHandler {
    let nango: NangoClient
    let database: Database
    let registry: PipelineRegistry
    let importer: ConnectionImporter
    let cache: any CacheInvalidating
    let logger: Logger

    public var kinds: [String] { SyncJob.kinds }
    var stream: StreamRead { StreamRead(nango: nango, database: database, cache: cache) }

    public init(nango: NangoClient, database: Database, registry: PipelineRegistry, importer: ConnectionImporter,
                cache: any CacheInvalidating, logger: Logger) {
        self.nango = nango
        self.database = database
        self.registry = registry
        self.importer = importer
        self.cache = cache
        self.logger = logger
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let job = try context.decode(SyncJob.self)
        let identity = job.identity, model = job.model, integrationId = identity.integrationId
        var logger = self.logger
        logger[metadataKey: "connection"] = "\(identity)"
        logger[metadataKey: "model"] = "\(model)"
        logger[metadataKey: "job_id"] = "\(context.job.id)"
        guard let set = registry.current else { throw JobError.retryAfter(.seconds(30), "no valid pipelines file is loaded") }
        let company = try await companyOf(identity, logger: logger)
        let pipelines = set.subscribers(integration: integrationId, provider: company.provider, model: model)
        guard !pipelines.isEmpty else {
            logger.info("no pipeline reads this model; nothing to do", metadata: ["integration_id": "\(integrationId)"])
            return .succeeded
        }
        guard company.status == .active else {
            // Another job (a sibling model's sync meeting Nango's 404, a status webhook) got there first.
            logger.info("company is not active; sync cancelled", metadata: ["status": "\(company.status.rawValue)"])
            return .cancelled(reason: "company is \(company.status.rawValue)")
        }
        let processors = pipelines.map { RecordProcessor(pipeline: $0, versionTag: set.hash) }
        let started = ContinuousClock.now
        var runIds: [Int64] = []
        let checkpoint = try await database.withConnection { db in
            try await SyncStateTable.markRunStarted(identity, model: model, companyId: company.id, on: db, logger: logger)
            for pipeline in pipelines {
                runIds.append(try await PipelineRunsTable.start(
                    pipeline: pipeline.name, pipelineHash: set.hash, companyId: company.id, connectionId: identity.connectionId, model: model,
                    jobId: context.job.id, on: db, logger: logger))
            }
            return try await SyncStateTable.checkpoint(identity, model: model, on: db, logger: logger)
        }
        let ids = runIds
        do {
            let outcome = try await stream.read(
                context: context, company: company, model: model, position: .checkpoint(version: checkpoint?.version ?? 0), from: checkpoint?.cursor,
                pageSize: pipelines.map(\.pageSize).min() ?? 500, processors: processors, runIds: ids, logger: logger)
            try await database.withConnection { db in
                for id in ids {
                    try await PipelineRunsTable.finish(runId: id, outcome: outcome == .succeeded ? "succeeded" : "cancelled", error: nil, on: db, logger: logger)
                }
                if outcome == .succeeded {
                    try await SyncStateTable.markSucceeded(identity, model: model, on: db, logger: logger)
                    try await CompaniesTable.markSynced(companyId: company.id, on: db, logger: logger)
                }
            }
            // The company's answer shows when each model was last confirmed current.
            if outcome == .succeeded { await cache.bump(companyId: company.id, resources: ["companies"]) }
            if outcome == .succeeded, let restart = job.nangoStartedOverAt, checkpoint?.cursor != nil,
               let lastSuccess = checkpoint?.lastSuccessAt, lastSuccess < restart {
                // Nango started over after our last complete read of a model we hold: what it dropped is found by a
                // full read. (A sync's first run also starts from nothing, but began before our first read ended.)
                let id = try await database.withConnection { db in
                    try await FullResyncs(database: database, registry: registry).request(
                        identity, model: model, reason: "Nango started over", on: db, logger: logger)
                }
                logger.info("Nango started the sync over: full resync queued", metadata: ["full_resync_job": "\(id)"])
            }
            Timer(label: "pipeline_sync_duration_seconds", dimensions: [("integration", integrationId), ("model", model)])
                .record(duration: ContinuousClock.now - started)
            return outcome
        } catch JobError.leaseLost {
            // The job is another worker's now: its runs and sync state are that worker's to record.
            throw JobError.leaseLost
        } catch {
            let message = String(describing: error)
            do {
                try await database.withConnection { db in
                    for id in ids { try await PipelineRunsTable.finish(runId: id, outcome: "failed", error: message, on: db, logger: logger) }
                    try await SyncStateTable.markFailed(identity, model: model, error: message, on: db, logger: logger)
                }
            } catch {
                // The job's own failure still reaches the queue below; only the run's bookkeeping is missing.
                logger.error("could not record the failed sync run", metadata: ["error": "\(error)"])
            }
            throw await stream.jobError(for: error, company: company, logger: logger)
        }
    }

    /// The company of a connection; a sync that overtakes the connection's own job imports it first.
    func companyOf(_ identity: ConnectionIdentity, logger: Logger) async throws -> CompanyRecord {
        if let company = try await database.withConnection({ db in try await CompaniesTable.find(identity, on: db, logger: logger) }) {
            return company
        }
        do {
            return try await importer.store(try await importer.fetch(identity), logger: logger)
        } catch NangoError.notFound {
            throw JobError.permanent("connection \(identity) is unknown to Nango")
        }
    }
}
