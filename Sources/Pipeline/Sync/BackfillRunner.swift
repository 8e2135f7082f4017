import Foundation
import Logging
import MarketplaceCore
import Nango
import Storage

/// `pipeline.backfill`: one pipeline's model read again from the start of Nango's stream for one company,
/// with a cursor of its own (a released backfill resumes from it), through that pipeline only. Writes keep
/// the newest version of each row, so it is safe beside the model's normal syncs.
public struct BackfillRunner: JobHandler {
    let stream: StreamRead
    let database: Database
    let registry: PipelineRegistry
    let logger: Logger

    public var kinds: [String] { [PipelineActionJob.Action.backfill.rawValue] }

    public init(nango: NangoClient, database: Database, registry: PipelineRegistry, cache: any CacheInvalidating, logger: Logger) {
        self.stream = StreamRead(nango: nango, database: database, cache: cache)
        self.database = database
        self.registry = registry
        self.logger = logger
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let job = try context.decode(PipelineActionJob.self)
        var logger = self.logger
        logger[metadataKey: "pipeline"] = "\(job.pipeline)"
        logger[metadataKey: "connection"] = "\(job.identity)"
        guard let set = registry.current else { throw JobError.retryAfter(.seconds(30), "no valid pipelines file is loaded") }
        guard let pipeline = set.pipeline(named: job.pipeline), pipeline.enabled else {
            return .cancelled(reason: "pipeline \(job.pipeline) is no longer loaded and enabled")
        }
        let model = pipeline.source.model
        let found = try await database.withConnection { db in try await CompaniesTable.find(job.identity, on: db, logger: logger) }
        guard let company = found, company.status == .active else {
            return .cancelled(reason: found.map { "company is \($0.status.rawValue)" } ?? "company \(job.identity) is unknown")
        }
        let (cursor, runId) = try await database.withConnection { db -> (String??, Int64) in
            let cursor = try await BackfillsTable.pendingCursor(pipeline: pipeline.name, companyId: company.id, on: db, logger: logger)
            let runId = try await PipelineRunsTable.start(
                pipeline: pipeline.name, pipelineHash: set.hash, companyId: company.id, connectionId: company.connectionId, model: model,
                jobId: context.job.id, on: db, logger: logger)
            return (cursor, runId)
        }
        guard let start = cursor else {
            try await database.withConnection { db in
                try await PipelineRunsTable.finish(runId: runId, outcome: "cancelled", error: "no backfill pending", on: db, logger: logger)
            }
            return .cancelled(reason: "no backfill of \(pipeline.name) is pending for this company")
        }
        do {
            let outcome = try await stream.read(
                context: context, company: company, model: model, position: .backfill(pipeline: pipeline.name), from: start,
                pageSize: pipeline.pageSize, processors: [RecordProcessor(pipeline: pipeline, versionTag: set.hash)], runIds: [runId],
                logger: logger)
            try await database.withConnection { db in
                try await PipelineRunsTable.finish(runId: runId, outcome: outcome == .succeeded ? "succeeded" : "cancelled", error: nil, on: db, logger: logger)
                if outcome == .succeeded { try await BackfillsTable.finish(pipeline: pipeline.name, companyId: company.id, on: db, logger: logger) }
            }
            return outcome
        } catch {
            do {
                try await database.withConnection { db in
                    try await PipelineRunsTable.finish(runId: runId, outcome: "failed", error: String(describing: error), on: db, logger: logger)
                }
            } catch {
                logger.error("could not record the failed backfill run", metadata: ["error": "\(error)"])
            }
            throw await stream.jobError(for: error, company: company, logger: logger)
        }
    }
}
