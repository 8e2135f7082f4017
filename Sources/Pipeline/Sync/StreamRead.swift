import Foundation
import Logging
import MarketplaceCore
import Metrics
import Nango
import Storage

/// Where a read of Nango's stream keeps its place.
enum ReadPosition: Sendable, Equatable {
    /// The (integration, connection, model) incremental checkpoint, at the version this run read: it only ever moves
    /// forward, and only from that version (a run whose view went stale stops instead).
    case checkpoint(version: Int64)
    /// A backfill's own cursor: the checkpoint is left as it is.
    case backfill(pipeline: String)
    /// A full resync's own cursor, each page's record ids marked seen: the checkpoint is left as it is.
    case fullResync(id: Int64)
}

/// The one reader of Nango's record stream: pages fetched, processed and committed in order, each page's
/// writes, run totals and position in one transaction.
struct StreamRead: Sendable {
    let nango: NangoClient
    let database: Database

    /// Pages the stream from `cursor` through `processors`, committing each page with `position`'s advance.
    func read(
        context: JobContext, company: CompanyRecord, model: String, position: ReadPosition, from cursor: String?,
        pageSize: Int, processors: [RecordProcessor], runIds: [Int64], logger: Logger
    ) async throws -> JobOutcome {
        let query = NangoRecordsQuery(
            connectionId: company.connectionId, providerConfigKey: company.integrationId, model: model, cursor: cursor, limit: pageSize)
        // Three pages in flight: the next one is fetched while this one is processed, and this one is
        // processed while the previous one commits. Commits stay in order, one at a time, so the
        // checkpoint only ever moves forward past pages that are stored.
        var stream = nango.records(query).makeAsyncIterator()
        // Each commit answers the position the next one starts from (the checkpoint's new version).
        var committing: Task<ReadPosition, any Error>?
        var position = position
        defer { stream.cancel() }
        var pages = 0
        var written = 0
        while true {
            let page: NangoRecordsPage
            do {
                guard let next = try await stream.next() else { break }
                page = next
            } catch {
                // The previous page still lands (and its checkpoint) before the fetch failure goes up.
                do {
                    _ = try await committing?.value
                } catch let commitError {
                    logger.warning("the page in flight did not commit either", metadata: ["error": "\(commitError)"])
                }
                throw error
            }
            if !page.records.isEmpty, let lastCursor = page.records.last?.metadata.cursor {
                let records = page.records.map(SourceRecord.init)
                let batches = processors.map { $0.process(records) }
                written += batches.reduce(0) { $0 + $1.rows.count }
                // Every record counts as present for a full resync: pruned, quarantined and deleted ones too.
                let recordIds = if case .fullResync = position { page.records.map(\.id) } else { [String]() }
                if let previous = committing { position = try await previous.value }
                committing = Task { [self, position] in
                    try await commit(
                        batches: batches, recordIds: recordIds, lastCursor: lastCursor, company: company, model: model,
                        position: position, fence: context, processors: processors, runIds: runIds, logger: logger)
                }
                pages += 1
            }
            if page.nextCursor != nil, context.isStopping() {
                _ = try await committing?.value
                logger.info("shutting down: sync released after a committed page", metadata: ["pages": "\(pages)"])
                return .released(runAt: nil, note: "released at shutdown after \(pages) page(s); resumes from the checkpoint")
            }
        }
        _ = try await committing?.value
        logger.debug("sync finished", metadata: ["pages": "\(pages)"])
        if written >= PlannerStatistics.refreshAfterRows {
            await PlannerStatistics.refresh(Set(processors.map(\.pipeline.target)), database: database, logger: logger)
        }
        return .succeeded
    }

    /// One page's processed batches, its run totals and the position's advance, in one write fenced by the job's lease.
    /// Returns the next position.
    func commit(
        batches: [ProcessedBatch], recordIds: [String] = [], lastCursor: String, company: CompanyRecord, model: String, position: ReadPosition,
        fence: JobContext, processors: [RecordProcessor], runIds: [Int64], logger: Logger
    ) async throws -> ReadPosition {
        let (prunedSkipped, next) = try await fence.write(database, logger: logger) { transaction in
            let db = transaction.connection
            transaction.changed(companyId: company.id, Set(processors.map(\.pipeline.target)))
            var page = PipelineRunsTable.Totals()
            var prunedSkipped: [Int] = []
            for ((processor, batch), runId) in zip(zip(processors, batches), runIds) {
                let totals = try await BatchWriter.write(
                    batch, pipeline: processor.pipeline, company: company, runId: runId, on: db, logger: logger)
                try await PipelineRunsTable.add(totals, to: runId, on: db, logger: logger)
                page.fetched = max(page.fetched, totals.fetched)
                page.upserted += totals.upserted
                page.deleted += totals.deleted
                page.quarantined += totals.quarantined
                page.prunedSkipped = max(page.prunedSkipped, totals.prunedSkipped)
                prunedSkipped.append(totals.prunedSkipped)
            }
            switch position {
            case .checkpoint(let version):
                guard let advanced = try await SyncStateTable.advance(
                    company.identity, model: model, cursor: lastCursor, expectedVersion: version, totals: page, on: db, logger: logger)
                else {
                    // Another run moved the checkpoint past this run's view: writing on would move it back.
                    throw JobError.leaseLost
                }
                return (prunedSkipped, ReadPosition.checkpoint(version: advanced))
            case .backfill(let pipeline):
                try await BackfillsTable.advance(pipeline: pipeline, companyId: company.id, cursor: lastCursor, on: db, logger: logger)
            case .fullResync(let id):
                try await FullResyncsTable.advance(id: id, cursor: lastCursor, seen: recordIds, on: db, logger: logger)
            }
            return (prunedSkipped, position)
        }
        for ((processor, batch), skipped) in zip(zip(processors, batches), prunedSkipped) {
            let dimensions = [("pipeline", processor.pipeline.name)]
            Counter(label: "pipeline_records_total", dimensions: dimensions + [("outcome", "written")]).increment(by: batch.rows.count)
            Counter(label: "pipeline_records_total", dimensions: dimensions + [("outcome", "deleted")]).increment(by: batch.deletions.count)
            Counter(label: "pipeline_records_total", dimensions: dimensions + [("outcome", "quarantined")]).increment(by: batch.quarantined.count)
            Counter(label: "pipeline_records_total", dimensions: dimensions + [("outcome", "pruned")]).increment(by: batch.pruned.count)
            if skipped > 0 { Counter(label: "pipeline_pruned_skipped_total", dimensions: dimensions).increment(by: skipped) }
            if batch.droppedValues > 0 { Counter(label: "pipeline_dropped_values_total", dimensions: dimensions).increment(by: batch.droppedValues) }
        }
        return next
    }

    /// A failed read as the queue must see it (Nango's failures judged by `NangoJobFailure`).
    func jobError(for error: any Error, company: CompanyRecord, lease: JobLease, logger: Logger) async -> any Error {
        await NangoJobFailure(database: database).jobError(for: error, company: company.identity, lease: lease, logger: logger)
    }
}
