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
    let logger: Logger

    public var kinds: [String] { SyncJob.kinds }
    var stream: StreamRead { StreamRead(nango: nango, database: database) }

    public init(nango: NangoClient, database: Database, registry: PipelineRegistry, importer: ConnectionImporter, logger: Logger) {
        self.nango = nango
        self.database = database
        self.registry = registry
        self.importer = importer
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
        let company = try await companyOf(identity, lease: context.lease, logger: logger)
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
        let (ids, checkpoint) = try await context.write(database, logger: logger) { transaction in
            let db = transaction.connection
            try await SyncStateTable.markRunStarted(identity, model: model, companyId: company.id, on: db, logger: logger)
            var runIds: [Int64] = []
            for pipeline in pipelines {
                runIds.append(try await PipelineRunsTable.start(
                    pipeline: pipeline.name, pipelineHash: set.hash, companyId: company.id, connectionId: identity.connectionId, model: model,
                    jobId: context.job.id, on: db, logger: logger))
            }
            return (runIds, try await SyncStateTable.checkpoint(identity, model: model, on: db, logger: logger))
        }
        do {
            let outcome = try await stream.read(
                context: context, company: company, model: model, position: .checkpoint(version: checkpoint?.version ?? 0), from: checkpoint?.cursor,
                pageSize: pipelines.map(\.pageSize).min() ?? 500, processors: processors, runIds: ids, logger: logger)
            let resyncJob = try await context.write(database, logger: logger) { transaction in
                let db = transaction.connection
                try await PipelineRunsTable.finish(runIds: ids, outcome: RunOutcome(outcome), error: nil, on: db, logger: logger)
                guard outcome == .succeeded else { return Int64?.none }
                try await SyncStateTable.markSucceeded(identity, model: model, on: db, logger: logger)
                try await CompaniesTable.markSynced(companyId: company.id, on: db, logger: logger)
                // A complete read: Nango's record count and ours are compared (merged with a check already waiting).
                _ = try await JobsTable.enqueue(DriftCheckJob(identity, model: model).newJob(), eventID: nil, on: db, logger: logger)
                // The company's answer shows when each model was last confirmed current.
                transaction.changed(companyId: company.id, [.companies])
                // Nango started a model we hold over (marked when its webhook was stored): what it dropped is found by
                // a full read, asked for with this success (joined when one is already asked for) until one that
                // started after the mark completes and clears it.
                guard try await SyncStateTable.nangoRestartPending(identity, model: model, on: db, logger: logger) else { return nil }
                return try await FullResyncs(database: database, registry: registry).request(
                    identity, model: model, reason: "Nango started over", on: db, logger: logger)
            }
            if let resyncJob { logger.info("Nango started the sync over: full resync queued", metadata: ["full_resync_job": "\(resyncJob)"]) }
            Timer(label: "pipeline_sync_duration_seconds", dimensions: [("integration", integrationId), ("model", model)])
                .record(duration: ContinuousClock.now - started)
            return outcome
        } catch JobError.leaseLost {
            // The job is another worker's now: its runs and sync state are that worker's to record.
            throw JobError.leaseLost
        } catch {
            let message = String(describing: error)
            do {
                try await context.write(database, logger: logger) { transaction in
                    try await PipelineRunsTable.finish(runIds: ids, outcome: .failed, error: message, on: transaction.connection, logger: logger)
                    try await SyncStateTable.markFailed(identity, model: model, error: message, on: transaction.connection, logger: logger)
                }
            } catch {
                // The job's own failure still reaches the queue below; only the run's bookkeeping is missing.
                logger.error("could not record the failed sync run", metadata: ["error": "\(error)"])
            }
            throw await stream.jobError(for: error, company: company, lease: context.lease, logger: logger)
        }
    }

    /// The company of a connection; a sync that overtakes the connection's own job imports it first.
    func companyOf(_ identity: ConnectionIdentity, lease: JobLease, logger: Logger) async throws -> CompanyRecord {
        if let company = try await database.read(logger: logger, { db in try await CompaniesTable.find(identity, on: db, logger: logger) }) {
            return company
        }
        let connection: NangoConnection
        do {
            connection = try await importer.fetch(identity)
        } catch {
            throw await NangoJobFailure(database: database).jobError(for: error, company: identity, lease: lease, logger: logger)
        }
        return try await importer.store(connection, fencedBy: lease, logger: logger)
    }
}
