import Foundation
import Logging
import MarketplaceCore
import Metrics
import Nango
import Storage

/// `sync.full_resync`: a model's whole stream read again from the start with a cursor of its own, through every
/// pipeline that reads it, each record id marked seen in Postgres. Only after a complete read are the rows
/// Nango no longer holds soft-deleted; an interrupted read (shutdown, failure) deletes nothing and resumes.
public struct FullResyncRunner: JobHandler {
    let stream: StreamRead
    let database: Database
    let registry: PipelineRegistry
    let logger: Logger

    public var kinds: [String] { FullResyncJob.kinds }

    public init(nango: NangoClient, database: Database, registry: PipelineRegistry, logger: Logger) {
        self.stream = StreamRead(nango: nango, database: database)
        self.database = database
        self.registry = registry
        self.logger = logger
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let job = try context.decode(FullResyncJob.self)
        let identity = job.identity, model = job.model
        var logger = self.logger
        logger[metadataKey: "connection"] = "\(identity)"
        logger[metadataKey: "model"] = "\(model)"
        logger[metadataKey: "job_id"] = "\(context.job.id)"
        guard let set = registry.current else { throw JobError.retryAfter(.seconds(30), "no valid pipelines file is loaded") }
        guard let company = try await database.read(logger: logger, { db in try await CompaniesTable.find(identity, on: db, logger: logger) }) else {
            return .cancelled(reason: "no company has connection \(identity)")
        }
        guard company.status == .active else { return .cancelled(reason: "company is \(company.status.rawValue)") }
        let pipelines = set.subscribers(integration: identity.integrationId, provider: company.provider, model: model)
        guard !pipelines.isEmpty else { return .cancelled(reason: "no pipeline reads \(model)") }
        let begun = try await context.write(database, logger: logger) { transaction in
            let db = transaction.connection
            // A second job of the same key finds the first one's resync finished.
            guard let resync = try await FullResyncsTable.begin(identity, model: model, on: db, logger: logger) else { return (FullResyncsTable.Open?.none, [Int64]()) }
            var ids: [Int64] = []
            for pipeline in pipelines {
                ids.append(try await PipelineRunsTable.start(
                    pipeline: pipeline.name, pipelineHash: set.hash, companyId: company.id, connectionId: identity.connectionId,
                    model: model, jobId: context.job.id, on: db, logger: logger))
            }
            return (resync, ids)
        }
        guard let resync = begun.0 else { return .cancelled(reason: "no full resync of \(model) is pending for this company") }
        let runIds = begun.1
        do {
            let outcome = try await stream.read(
                context: context, company: company, model: model, position: .fullResync(id: resync.id), from: resync.cursor,
                pageSize: pipelines.map(\.pageSize).min() ?? 500,
                processors: pipelines.map { RecordProcessor(pipeline: $0, versionTag: set.hash) }, runIds: runIds, logger: logger)
            guard outcome == .succeeded else {
                try await context.finishRuns(runIds, .cancelled, database: database, logger: logger)
                return outcome
            }
            guard let deleted = try await deleteUnseen(
                resync, pipelines: pipelines, runIds: runIds, company: company, model: model, context: context, logger: logger)
            else {
                try await context.finishRuns(runIds, .cancelled, database: database, logger: logger)
                return .cancelled(reason: "the full resync of \(model) was finished by another run")
            }
            Counter(label: "pipeline_full_resync_deleted_total", dimensions: [("model", model)]).increment(by: deleted)
            logger.info("full resync complete", metadata: ["deleted": "\(deleted)", "reason": "\(job.reason)"])
            return .succeeded
        } catch JobError.leaseLost {
            // The job is another worker's now: its runs are that worker's to record.
            throw JobError.leaseLost
        } catch {
            do {
                try await context.finishRuns(runIds, .failed, error: String(describing: error), database: database, logger: logger)
            } catch {
                logger.error("could not record the failed full resync run", metadata: ["error": "\(error)"])
            }
            throw await stream.jobError(for: error, company: company, lease: context.lease, logger: logger)
        }
    }

    /// After a complete read, in one write fenced by the job's lease, with the resync's row locked and still open: each
    /// target table's unseen rows of the model soft-deleted, the count added to the run of the first pipeline writing
    /// it, the unseen records' open quarantine entries closed, the runs finished, the resync closed. Nil when the
    /// resync is no longer open: its seen marks are gone with its finish, and deleting by them would delete every row.
    func deleteUnseen(
        _ resync: FullResyncsTable.Open, pipelines: [PipelineDefinition], runIds: [Int64], company: CompanyRecord, model: String,
        context: JobContext, logger: Logger
    ) async throws -> Int? {
        try await context.write(database, logger: logger) { transaction in
            let db = transaction.connection
            // Locks in the order a sync's last write takes them (sync state, then the resync), so the two never deadlock.
            try await SyncStateTable.lock(company.identity, model: model, on: db, logger: logger)
            guard try await FullResyncsTable.lockOpen(id: resync.id, on: db, logger: logger) else { return nil }
            var total = 0
            var done = Set<Resource>()
            for (pipeline, runId) in zip(pipelines, runIds) where pipeline.target != .companies && done.insert(pipeline.target).inserted {
                let deleted = try await ResourceRowsTable.softDeleteUnseen(
                    resyncId: resync.id, startedAt: resync.startedAt, model: model, from: pipeline.target, companyId: company.id,
                    on: db, logger: logger)
                var totals = PipelineRunsTable.Totals()
                totals.deleted = deleted
                try await PipelineRunsTable.add(totals, to: runId, on: db, logger: logger)
                total += deleted
            }
            for pipeline in pipelines {
                try await QuarantineTable.resolveUnseen(
                    resyncId: resync.id, startedAt: resync.startedAt, pipeline: pipeline.name, model: model, companyId: company.id,
                    on: db, logger: logger)
            }
            try await PrunedRecordsTable.forgetUnseen(resyncId: resync.id, companyId: company.id, model: model, on: db, logger: logger)
            try await PipelineRunsTable.finish(runIds: runIds, outcome: .succeeded, error: nil, on: db, logger: logger)
            try await FullResyncsTable.finish(id: resync.id, deleted: total, on: db, logger: logger)
            // A complete read: Nango's count and ours are compared again (a drift's re-read is judged by it).
            _ = try await JobsTable.enqueue(DriftCheckJob(company.identity, model: model).newJob(), eventID: nil, on: db, logger: logger)
            try await SyncStateTable.clearNangoRestart(company.identity, model: model, readStartedAt: resync.startedAt, on: db, logger: logger)
            transaction.changed(companyId: company.id, Set(pipelines.map(\.target)))
            return total
        }
    }
}
