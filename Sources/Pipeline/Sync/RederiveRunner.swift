import Foundation
import Logging
import MarketplaceCore
import Metrics
import Storage

/// `pipeline.rederive`: one pipeline's output for one company rebuilt from the raw records already stored —
/// its live rows and its open quarantine entries — through the pipeline as loaded now, without calling Nango.
/// A mapping fix reaches every row in seconds, and quarantined records it now accepts land. Each row keeps
/// its modification time, so a sync that lands a newer version meanwhile wins.
public struct RederiveRunner: JobHandler {
    let database: Database
    let registry: PipelineRegistry
    let logger: Logger
    let pageSize = 500

    public var kinds: [String] { [PipelineActionJob.Action.rederive.rawValue] }

    public init(database: Database, registry: PipelineRegistry, logger: Logger) {
        self.database = database
        self.registry = registry
        self.logger = logger
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let target: PipelineActionTarget
        switch try await PipelineActionTarget.resolve(context, registry: registry, database: database, activeOnly: false, logger: logger) {
        case .done(let outcome): return outcome
        case .target(let resolved): target = resolved
        }
        let (set, pipeline, company, logger) = (target.set, target.pipeline, target.company, target.logger)
        let processor = RecordProcessor(pipeline: pipeline, versionTag: set.hash)
        // Rows stored before provenance was kept belong to this pipeline when no other one writes its target.
        let soleWriter = set.pipelines.filter {
            $0.enabled && $0.source.matches(integration: company.integrationId, provider: company.provider) && $0.target == pipeline.target
        }.count == 1
        let runId = try await context.write(database, logger: logger) { transaction in
            try await PipelineRunsTable.start(
                pipeline: pipeline.name, pipelineHash: set.hash, companyId: company.id, connectionId: company.connectionId,
                model: pipeline.source.model, jobId: context.job.id, on: transaction.connection, logger: logger)
        }
        // The walk below is a keyset scan: planned on a table's missing statistics, each page sorts every row left.
        if pipeline.target != .companies { await PlannerStatistics.refresh([pipeline.target], database: database, logger: logger) }
        do {
            var after: UUID?
            repeat {
                let page: (records: [StoredRecord], last: UUID?)
                if pipeline.target == .companies {
                    let profile = try await database.read(logger: logger) { db in try await CompaniesTable.profileRecord(companyId: company.id, on: db, logger: logger) }
                    page = (profile.map { [$0] } ?? [], nil)
                } else {
                    page = try await database.read(logger: logger) { db in
                        try await ResourceRowsTable.storedRecords(
                            of: pipeline.target, companyId: company.id, model: pipeline.source.model, includeUnattributed: soleWriter,
                            after: after, limit: pageSize, on: db, logger: logger)
                    }
                }
                try await write(page.records, processor: processor, company: company, runId: runId, context: context, logger: logger)
                after = page.records.count == pageSize ? page.last : nil
            } while after != nil && !context.isStopping()
            if after != nil {
                // Shutting down mid-way: the job goes back to the queue and starts over (a re-derivation is idempotent).
                try await context.finishRuns([runId], .cancelled, database: database, logger: logger)
                return .released(runAt: nil, note: "released at shutdown; the re-derivation starts over")
            }
            let quarantined = try await database.read(logger: logger) { db in
                try await QuarantineTable.openRecords(pipeline: pipeline.name, companyId: company.id, on: db, logger: logger)
            }
            for start in stride(from: 0, to: quarantined.count, by: pageSize) {
                let chunk = Array(quarantined[start..<min(start + pageSize, quarantined.count)])
                try await write(chunk, processor: processor, company: company, runId: runId, context: context, logger: logger)
            }
            try await context.finishRuns([runId], .succeeded, database: database, logger: logger)
            return .succeeded
        } catch JobError.leaseLost {
            // The job is another worker's now: its run is that worker's to record.
            throw JobError.leaseLost
        } catch {
            do {
                try await context.finishRuns([runId], .failed, error: String(describing: error), database: database, logger: logger)
            } catch {
                logger.error("could not record the failed re-derivation", metadata: ["error": "\(error)"])
            }
            throw error
        }
    }

    /// Stored records through the pipeline, written as a sync writes a page (without moving any cursor), each page
    /// committed with its cache version bump: a re-derivation stopped halfway leaves no page older than its rows.
    func write(
        _ records: [StoredRecord], processor: RecordProcessor, company: CompanyRecord, runId: Int64, context: JobContext, logger: Logger
    ) async throws {
        guard !records.isEmpty else { return }
        let batch = processor.process(records.map(Self.sourceRecord))
        try await context.write(database, logger: logger) { transaction in
            let db = transaction.connection
            let totals = try await BatchWriter.write(batch, pipeline: processor.pipeline, company: company, runId: runId, on: db, logger: logger)
            try await PipelineRunsTable.add(totals, to: runId, on: db, logger: logger)
            transaction.changed(companyId: company.id, [processor.pipeline.target])
        }
        Counter(label: "pipeline_rederived_records_total", dimensions: [("pipeline", processor.pipeline.name)]).increment(by: records.count)
    }

    /// A stored record as the stages see a record from Nango: its fields, and its modification time.
    static func sourceRecord(_ stored: StoredRecord) -> SourceRecord {
        let fields = (try? JSONValue.parse(Array(stored.raw.utf8)))?.object ?? [:]
        let modified = stored.sourceUpdatedAt.map(Timestamps.format)
        return SourceRecord(
            fields: fields, metadata: modified.map { ["last_modified_at": .string($0), "last_action": .string("UPDATED")] } ?? [:],
            action: .updated, lastModifiedAt: stored.sourceUpdatedAt)
    }
}
