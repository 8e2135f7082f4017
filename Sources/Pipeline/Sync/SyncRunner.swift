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
        let pipelines = set.subscribers(integration: integrationId, model: model)
        guard !pipelines.isEmpty else {
            logger.info("no pipeline reads this model; nothing to do", metadata: ["integration_id": "\(integrationId)"])
            return .succeeded
        }
        let company = try await companyOf(identity, logger: logger)
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
            let outcome = try await pagesLoop(
                context: context, company: company, model: model,
                cursor: checkpoint?.cursor, pageSize: pipelines.map(\.pageSize).min() ?? 500, processors: processors, runIds: ids, logger: logger)
            try await database.withConnection { db in
                for id in ids {
                    try await PipelineRunsTable.finish(runId: id, outcome: outcome == .succeeded ? "succeeded" : "cancelled", error: nil, on: db, logger: logger)
                }
                if outcome == .succeeded {
                    try await SyncStateTable.markSucceeded(identity, model: model, on: db, logger: logger)
                    try await CompaniesTable.markSynced(companyId: company.id, on: db, logger: logger)
                }
            }
            Timer(label: "pipeline_sync_duration_seconds", dimensions: [("integration", integrationId), ("model", model)])
                .record(duration: ContinuousClock.now - started)
            return outcome
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
            if case NangoError.rateLimited(let delay) = error { throw JobError.retryAfter(delay, message) }
            if case NangoError.notFound(let code, _) = error {
                // The connection is gone at Nango: the company is disconnected, and reconciliation stops asking.
                if code == "unknown_connection" {
                    do {
                        _ = try await changeCompanyStatus(
                            identity, to: .disconnected, reason: message, database: database, cache: cache, logger: logger)
                    } catch {
                        logger.error("could not mark the company disconnected", metadata: ["error": "\(error)"])
                    }
                }
                throw JobError.permanent(message)
            }
            throw error
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

    func pagesLoop(
        context: JobContext, company: CompanyRecord, model: String, cursor: String?,
        pageSize: Int, processors: [RecordProcessor], runIds: [Int64], logger: Logger
    ) async throws -> JobOutcome {
        var query = NangoRecordsQuery(
            connectionId: company.connectionId, providerConfigKey: company.integrationId, model: model, cursor: cursor, limit: pageSize)
        let targets = Set(processors.map(\.pipeline.target.rawValue))
        // Three pages in flight: the next one is fetched while this one is processed, and this one is
        // processed while the previous one commits. Commits stay in order, one at a time, so the
        // checkpoint only ever moves forward past pages that are stored.
        var pending: Task<NangoRecordsPage, any Error>? = Task { [nango, query] in try await nango.recordsPage(query) }
        var committing: Task<Void, any Error>?
        defer { pending?.cancel() }
        var pages = 0
        while let fetching = pending {
            let page: NangoRecordsPage
            do {
                page = try await fetching.value
            } catch {
                // The previous page still lands (and its checkpoint) before the fetch failure goes up.
                do {
                    try await committing?.value
                } catch let commitError {
                    logger.warning("the page in flight did not commit either", metadata: ["error": "\(commitError)"])
                }
                throw error
            }
            pending = nil
            if let next = page.nextCursor, !context.isStopping() {
                query.cursor = next
                pending = Task { [nango, query] in try await nango.recordsPage(query) }
            }
            if !page.records.isEmpty, let lastCursor = page.records.last?.metadata.cursor {
                let records = page.records.map(SourceRecord.init)
                let batches = processors.map { $0.process(records) }
                try await committing?.value
                committing = Task { [self] in
                    try await commit(batches: batches, lastCursor: lastCursor, company: company, model: model,
                                     processors: processors, runIds: runIds, logger: logger)
                    await cache.bump(companyId: company.id, resources: targets)
                }
                pages += 1
            }
            if page.nextCursor != nil, context.isStopping() {
                try await committing?.value
                logger.info("shutting down: sync released after a committed page", metadata: ["pages": "\(pages)"])
                return .released(runAt: nil, note: "released at shutdown after \(pages) page(s); resumes from the checkpoint")
            }
        }
        try await committing?.value
        logger.debug("sync finished", metadata: ["pages": "\(pages)"])
        return .succeeded
    }

    /// One page's processed batches, its run totals and the checkpoint's advance, in one transaction.
    func commit(
        batches: [ProcessedBatch], lastCursor: String, company: CompanyRecord, model: String,
        processors: [RecordProcessor], runIds: [Int64], logger: Logger
    ) async throws {
        try await database.withTransaction(logger: logger) { db in
            var page = PipelineRunsTable.Totals()
            for ((processor, batch), runId) in zip(zip(processors, batches), runIds) {
                let totals = try await BatchWriter.write(
                    batch, pipeline: processor.pipeline, company: company, runId: runId, on: db, logger: logger)
                try await PipelineRunsTable.add(totals, to: runId, on: db, logger: logger)
                page.fetched = max(page.fetched, totals.fetched)
                page.upserted += totals.upserted
                page.deleted += totals.deleted
                page.quarantined += totals.quarantined
            }
            try await SyncStateTable.advance(company.identity, model: model, cursor: lastCursor, totals: page, on: db, logger: logger)
        }
        for (processor, batch) in zip(processors, batches) {
            let dimensions = [("pipeline", processor.pipeline.name)]
            Counter(label: "pipeline_records_total", dimensions: dimensions + [("outcome", "written")]).increment(by: batch.rows.count)
            Counter(label: "pipeline_records_total", dimensions: dimensions + [("outcome", "deleted")]).increment(by: batch.deletions.count)
            Counter(label: "pipeline_records_total", dimensions: dimensions + [("outcome", "quarantined")]).increment(by: batch.quarantined.count)
            if batch.droppedValues > 0 { Counter(label: "pipeline_dropped_values_total", dimensions: dimensions).increment(by: batch.droppedValues) }
        }
    }
}
