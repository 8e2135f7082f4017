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
        let target: PipelineActionTarget
        switch try await PipelineActionTarget.resolve(context, registry: registry, database: database, activeOnly: true, logger: logger) {
        case .done(let outcome): return outcome
        case .target(let resolved): target = resolved
        }
        let (set, pipeline, company, logger) = (target.set, target.pipeline, target.company, target.logger)
        let model = pipeline.source.model
        // A second job of the same key finds the first one's backfill finished: nothing to do, no run recorded.
        let pending = try await database.withConnection { db in
            try await BackfillsTable.pendingCursor(pipeline: pipeline.name, companyId: company.id, on: db, logger: logger)
        }
        guard let start = pending else { return .cancelled(reason: "no backfill of \(pipeline.name) is pending for this company") }
        let runId = try await database.withConnection { db in
            try await PipelineRunsTable.start(
                pipeline: pipeline.name, pipelineHash: set.hash, companyId: company.id, connectionId: company.connectionId, model: model,
                jobId: context.job.id, on: db, logger: logger)
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
