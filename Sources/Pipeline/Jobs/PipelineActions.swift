import Foundation
import Logging
import MarketplaceCore
import Metrics
import PostgresNIO
import Storage

/// Why ops' action on a pipeline was refused. The HTTP edge and the CLI each map it once.
public enum PipelineActionError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownPipeline(String)
    case disabledPipeline(String)
    case noPipelinesLoaded

    public var description: String {
        switch self {
        case .unknownPipeline(let name): "no pipeline named '\(name)' is loaded"
        case .disabledPipeline(let name): "pipeline '\(name)' is disabled"
        case .noPipelinesLoaded: "no valid pipelines file is loaded"
        }
    }
}

/// Ops' two actions on a pipeline, for every active company of its integration or one: **backfill** (re-read
/// its model from the start of Nango's stream, with a cursor of its own) and **re-derive** (rebuild its rows
/// from the raw records already stored, without calling Nango). Both run as jobs, one per company; asking
/// again while one waits reuses it.
public struct PipelineActions: Sendable {
    let database: Database
    let registry: PipelineRegistry

    public init(database: Database, registry: PipelineRegistry) {
        self.database = database
        self.registry = registry
    }

    /// Queues the action; returns the job ids (new or already waiting), one per company.
    public func request(_ action: PipelineActionJob.Action, pipeline name: String, companyId: UUID?, logger: Logger) async throws -> [Int64] {
        guard let set = registry.current else { throw PipelineActionError.noPipelinesLoaded }
        guard let pipeline = set.pipeline(named: name) else { throw PipelineActionError.unknownPipeline(name) }
        guard pipeline.enabled else { throw PipelineActionError.disabledPipeline(name) }
        return try await database.withTransaction(logger: logger) { db in
            let companies = try await CompaniesTable.syncable(pipeline.source.selector, companyId: companyId, on: db, logger: logger)
            return try await enqueue(action, companies.map { (pipeline, $0.identity, $0.companyId) }, on: db, logger: logger)
        }
    }

    /// Reads the pipelines file again (the watcher's and the admin API's reload); a pipeline the new version adds
    /// or enables for a model some company already synced is backfilled.
    public func reload(logger: Logger) async -> Result<Bool, PipelineFileErrors> {
        let previous = registry.current
        let result = registry.reload()
        if case .success(true) = result, let current = registry.current {
            do {
                _ = try await backfillNewlyEnabled(previous: previous, current: current, logger: logger)
            } catch {
                // The next reload cannot retry it (the file is unchanged): said loudly; ops can backfill by hand.
                Counter(label: "pipelines_backfill_queue_failures_total").increment()
                logger.error("could not queue the backfill of newly enabled pipelines", metadata: ["error": "\(error)"])
            }
        }
        return result
    }

    /// After a reload: a pipeline that is new (or newly enabled) for a model some company already synced sees
    /// only changes from now on, so each such company is backfilled. Returns the job ids.
    public func backfillNewlyEnabled(previous: PipelineSet?, current: PipelineSet, logger: Logger) async throws -> [Int64] {
        let before = Set(previous?.pipelines.filter(\.enabled).map(\.name) ?? [])
        let added = current.pipelines.filter { $0.enabled && !before.contains($0.name) }
        guard previous != nil, !added.isEmpty else { return [] }
        return try await database.withTransaction(logger: logger) { db in
            var targets: [(pipeline: PipelineDefinition, identity: ConnectionIdentity, companyId: UUID)] = []
            for pipeline in added {
                let companies = try await CompaniesTable.syncable(pipeline.source.selector, companyId: nil, on: db, logger: logger)
                targets += companies.filter(\.synced).map { (pipeline, $0.identity, $0.companyId) }
            }
            let ids = try await enqueue(.backfill, targets, on: db, logger: logger)
            if !ids.isEmpty { logger.info("new pipelines backfill already-synced models", metadata: ["jobs": "\(ids.count)"]) }
            return ids
        }
    }

    /// After a pipeline fix: each company with open quarantine entries (of one pipeline, or all) is re-derived,
    /// so the records the fixed pipeline now accepts land, without calling Nango. Returns the job ids.
    public func rerunQuarantine(pipeline name: String?, companyId: UUID?, logger: Logger) async throws -> [Int64] {
        guard let set = registry.current else { throw PipelineActionError.noPipelinesLoaded }
        return try await database.withTransaction(logger: logger) { db in
            let sources = try await QuarantineTable.openSources(pipeline: name, companyId: companyId, on: db, logger: logger)
            let targets = sources.compactMap { source -> (pipeline: PipelineDefinition, identity: ConnectionIdentity, companyId: UUID)? in
                guard let pipeline = set.pipeline(named: source.pipeline), pipeline.enabled else { return nil }
                return (pipeline, source.identity, source.companyId)
            }
            return try await enqueue(.rederive, targets, on: db, logger: logger)
        }
    }

    /// The action's jobs for each (pipeline, company), in two or three statements however many (a backfill's
    /// cursors first). Returns the job ids, in input order.
    func enqueue(
        _ action: PipelineActionJob.Action, _ targets: [(pipeline: PipelineDefinition, identity: ConnectionIdentity, companyId: UUID)],
        on db: PostgresConnection, logger: Logger
    ) async throws -> [Int64] {
        if action == .backfill {
            try await BackfillsTable.request(all: targets.map { ($0.pipeline.name, $0.companyId, $0.pipeline.source.model) }, on: db, logger: logger)
        }
        return try await JobsTable.enqueueOrWaiting(
            targets.map { PipelineActionJob(action, pipeline: $0.pipeline.name, $0.identity).newJob(maxAttempts: $0.pipeline.retry.maxAttempts) },
            on: db, logger: logger)
    }
}
