import Logging
import MarketplaceCore
import Storage

/// What a backfill or a re-derivation works on: its pipeline as loaded now, and its company.
struct PipelineActionTarget: Sendable {
    enum Resolution: Sendable {
        case target(PipelineActionTarget)
        /// Nothing to do any more: the job ends with this outcome.
        case done(JobOutcome)
    }

    let set: PipelineSet
    let pipeline: PipelineDefinition
    let company: CompanyRecord
    let logger: Logger

    /// The job's pipeline (still loaded and enabled) and company (active, when `activeOnly`), or why there is none.
    static func resolve(
        _ context: JobContext, registry: PipelineRegistry, database: Database, activeOnly: Bool, logger: Logger
    ) async throws -> Resolution {
        let job = try context.decode(PipelineActionJob.self)
        var logger = logger
        logger[metadataKey: "pipeline"] = "\(job.pipeline)"
        logger[metadataKey: "connection"] = "\(job.identity)"
        guard let set = registry.current else { throw JobError.retryAfter(.seconds(30), "no valid pipelines file is loaded") }
        guard let pipeline = set.pipeline(named: job.pipeline), pipeline.enabled else {
            return .done(.cancelled(reason: "pipeline \(job.pipeline) is no longer loaded and enabled"))
        }
        guard let company = try await database.read(logger: logger, { db in try await CompaniesTable.find(job.identity, on: db, logger: logger) }) else {
            return .done(.cancelled(reason: "company \(job.identity) is unknown"))
        }
        if activeOnly, company.status != .active { return .done(.cancelled(reason: "company is \(company.status.rawValue)")) }
        return .target(PipelineActionTarget(set: set, pipeline: pipeline, company: company, logger: logger))
    }
}
