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

    public init(nango: NangoClient, database: Database, registry: PipelineRegistry, logger: Logger) {
        self.stream = StreamRead(nango: nango, database: database)
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
        let begun = try await context.write(database, logger: logger) { transaction in
            let db = transaction.connection
            guard let start = try await BackfillsTable.pendingCursor(pipeline: pipeline.name, companyId: company.id, on: db, logger: logger) else {
                return (String??.none, Int64(0))
            }
            let runId = try await PipelineRunsTable.start(
                pipeline: pipeline.name, pipelineHash: set.hash, companyId: company.id, connectionId: company.connectionId, model: model,
                jobId: context.job.id, on: db, logger: logger)
            return (String??.some(start), runId)
        }
        guard let start = begun.0 else { return .cancelled(reason: "no backfill of \(pipeline.name) is pending for this company") }
        let runId = begun.1
        do {
            let outcome = try await stream.read(
                context: context, company: company, model: model, position: .backfill(pipeline: pipeline.name), from: start,
                pageSize: pipeline.pageSize, processors: [RecordProcessor(pipeline: pipeline, versionTag: set.hash)], runIds: [runId],
                logger: logger)
            try await context.write(database, logger: logger) { transaction in
                let db = transaction.connection
                try await PipelineRunsTable.finish(runIds: [runId], outcome: RunOutcome(outcome), error: nil, on: db, logger: logger)
                if outcome == .succeeded { try await BackfillsTable.finish(pipeline: pipeline.name, companyId: company.id, on: db, logger: logger) }
            }
            return outcome
        } catch JobError.leaseLost {
            // The job is another worker's now: its run is that worker's to record.
            throw JobError.leaseLost
        } catch {
            do {
                try await context.finishRuns([runId], .failed, error: String(describing: error), database: database, logger: logger)
            } catch {
                logger.error("could not record the failed backfill run", metadata: ["error": "\(error)"])
            }
            throw await stream.jobError(for: error, company: company, lease: context.lease, logger: logger)
        }
    }
}
