import Foundation
import Logging
import MarketplaceCore
import Metrics
import Nango
import Storage

/// One check's outcome, for the job's log, the command line and the admin API.
public struct DriftCheckResult: Sendable, Equatable {
    public var identity: ConnectionIdentity
    public var model: String
    public var nangoCount: Int?
    public var ourCount: Int?
    public var verdict: DriftJudge.Verdict

    public var summary: String {
        let counts = "Nango \(nangoCount.map(String.init) ?? "?"), ours \(ourCount.map(String.init) ?? "?")"
        switch verdict {
        case .skipped(let reason): return "skipped: \(reason)"
        case .agreed: return "agreed: \(counts)"
        case .reread: return "drift: \(counts); a full re-read is queued"
        case .announce: return "drift: \(counts) after a full re-read; sync.drift_detected sent"
        case .unchanged: return "drift: \(counts); nothing new to do"
        }
    }
}

/// The drift check (docs/drift.md): Nango's `recordCount` of a model against the distinct records of it we hold (live
/// rows, open quarantine entries, records served pruned), compared only while Nango's sync is not running and finished
/// before our last complete read. A mismatch opens a drift and asks one full re-read; still open after it, the drift is
/// announced once; re-read again only when a count moves.
public struct DriftCheck: Sendable {
    let database: Database
    let nango: NangoClient
    let registry: PipelineRegistry

    public init(database: Database, nango: NangoClient, registry: PipelineRegistry) {
        self.database = database
        self.nango = nango
        self.registry = registry
    }

    /// Checks one (connection, model); every write fenced by `lease` when a job runs it.
    public func check(_ identity: ConnectionIdentity, model: String, lease: JobLease?, logger: Logger) async throws -> DriftCheckResult {
        var result = DriftCheckResult(identity: identity, model: model, verdict: .skipped(""))
        guard let company = try await database.read(logger: logger, { db in try await CompaniesTable.find(identity, on: db, logger: logger) }) else {
            result.verdict = .skipped("no such company")
            return result
        }
        guard company.status == .active else {
            result.verdict = .skipped("the company is \(company.status.rawValue)")
            return try await record(result, company: company, lease: lease, logger: logger)
        }
        let tables = Array(Set((registry.current?.subscribers(integration: identity.integrationId, provider: company.provider, model: model) ?? [])
            .map(\.target).filter { $0 != .companies }))
        guard !tables.isEmpty else {
            result.verdict = .skipped("no pipeline stores this model's records as rows (the company profile is one row for many records)")
            return try await record(result, company: company, lease: lease, logger: logger)
        }
        let nangoSide: DriftJudge.NangoSide?
        do {
            nangoSide = Self.nangoSide(try await nango.syncStatus(providerConfigKey: identity.integrationId, connectionId: identity.connectionId), model: model)
        } catch {
            result.verdict = .skipped("Nango's sync status could not be read (\(error))")
            return try await record(result, company: company, lease: lease, logger: logger)
        }
        result.nangoCount = nangoSide?.count
        let fullResyncs = FullResyncs(database: database, registry: registry)
        return try await database.write(fencedBy: lease, logger: logger) { transaction in
            let db = transaction.connection
            let drift = try await SyncDriftTable.get(companyId: company.id, model: model, on: db, logger: logger)
            let ours = try await SyncDriftTable.heldCount(companyId: company.id, model: model, tables: tables, on: db, logger: logger)
            let lastRead = try await SyncDriftTable.lastRead(identity, model: model, on: db, logger: logger)
            var rereadDone = true
            if let job = drift?.rereadJobId, let status = try await JobsTable.find(id: job, on: db, logger: logger)?.status {
                rereadDone = ![JobStatus.queued, .running, .failed].contains(JobStatus(rawValue: status))
            }
            result.ourCount = ours
            result.verdict = DriftJudge.judge(nango: nangoSide, ours: ours, lastRead: lastRead, drift: drift, rereadDone: rereadDone)
            let nangoCount = nangoSide?.count ?? 0
            switch result.verdict {
            case .skipped:
                break
            case .agreed:
                if drift?.state == .open {
                    try await SyncDriftTable.heal(companyId: company.id, model: model, nango: nangoCount, ours: ours, on: db, logger: logger)
                    transaction.changed(companyId: company.id, [.companies])
                    logger.notice("drift healed", metadata: ["company_id": "\(company.id)", "model": "\(model)", "records": "\(ours)"])
                }
            case .reread:
                try await SyncDriftTable.open(companyId: company.id, model: model, identity: identity, nango: nangoCount, ours: ours, on: db, logger: logger)
                let job = try await fullResyncs.request(identity, model: model, reason: "drift: Nango holds \(nangoCount), we hold \(ours)", on: db, logger: logger)
                try await SyncDriftTable.markReread(companyId: company.id, model: model, jobId: job, nango: nangoCount, ours: ours, on: db, logger: logger)
                transaction.changed(companyId: company.id, [.companies])
                logger.warning("drift: Nango's record count and ours differ; a full re-read is queued", metadata: [
                    "company_id": "\(company.id)", "connection": "\(identity)", "model": "\(model)", "nango": "\(nangoCount)", "ours": "\(ours)",
                ])
            case .announce:
                try await SyncDriftTable.open(companyId: company.id, model: model, identity: identity, nango: nangoCount, ours: ours, on: db, logger: logger)
                try await SyncDriftTable.markReread(companyId: company.id, model: model, jobId: drift?.rereadJobId ?? 0, nango: nangoCount, ours: ours,
                                                    on: db, logger: logger)
                try await SyncDriftTable.markNotified(companyId: company.id, model: model, on: db, logger: logger)
                if let open = try await SyncDriftTable.get(companyId: company.id, model: model, on: db, logger: logger) {
                    try await SyncDriftTable.announce(open, on: db, logger: logger)
                }
                transaction.changed(companyId: company.id, [.companies])
                logger.warning("drift stays open after a full re-read", metadata: [
                    "company_id": "\(company.id)", "connection": "\(identity)", "model": "\(model)", "nango": "\(nangoCount)", "ours": "\(ours)",
                ])
            case .unchanged:
                try await SyncDriftTable.open(companyId: company.id, model: model, identity: identity, nango: nangoCount, ours: ours, on: db, logger: logger)
            }
            try await SyncDriftTable.recordCheck(identity, model: model, result: result.summary, on: db, logger: logger)
            if case .skipped = result.verdict {} else {
                Gauge(label: "sync_drift_records", dimensions: [("integration", identity.integrationId), ("model", model)])
                    .record(abs(nangoCount - ours))
            }
            if case .skipped(let reason) = result.verdict {
                logger.info("drift check skipped", metadata: ["connection": "\(identity)", "model": "\(model)", "reason": "\(reason)"])
            }
            return result
        }
    }

    func record(_ result: DriftCheckResult, company: CompanyRecord, lease: JobLease?, logger: Logger) async throws -> DriftCheckResult {
        try await database.write(fencedBy: lease, logger: logger) { transaction in
            try await SyncDriftTable.recordCheck(result.identity, model: result.model, result: result.summary, on: transaction.connection, logger: logger)
        }
        logger.info("drift check skipped", metadata: ["connection": "\(result.identity)", "model": "\(result.model)", "result": "\(result.summary)"])
        return result
    }

    /// The sync whose record count names the model (nil when none, or more than one, does).
    static func nangoSide(_ syncs: [NangoSyncStatus], model: String) -> DriftJudge.NangoSide? {
        let counting = syncs.filter { $0.recordCount?[model] != nil }
        guard counting.count == 1, let sync = counting.first, let count = sync.recordCount?[model] else { return nil }
        return DriftJudge.NangoSide(status: sync.status.rawValue, finishedAt: sync.finishedAt.flatMap(Self.date), count: count)
    }

    static func date(_ text: String) -> Date? {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }

    /// Every active company's models that some pipeline stores as rows: what the scheduled check covers.
    public func pairs(companyId: UUID?, logger: Logger) async throws -> [(identity: ConnectionIdentity, model: String)] {
        guard let set = registry.current else { return [] }
        let sources = set.pipelines.filter { $0.enabled && $0.target != .companies }.map(\.source.selector)
        return try await database.read(logger: logger) { db in
            var seen = Set<String>()
            var pairs: [(identity: ConnectionIdentity, model: String)] = []
            for source in sources {
                for company in try await CompaniesTable.syncable(source, companyId: companyId, on: db, logger: logger)
                where seen.insert("\(company.identity)|\(source.model)").inserted {
                    pairs.append((company.identity, source.model))
                }
            }
            return pairs
        }
    }

    /// Queues a check of every pair (merged with checks already waiting). Returns the job ids.
    public func enqueue(companyId: UUID?, logger: Logger) async throws -> [Int64] {
        let pairs = try await pairs(companyId: companyId, logger: logger)
        return try await database.withTransaction(logger: logger) { db in
            try await JobsTable.enqueueOrWaiting(pairs.map { DriftCheckJob($0.identity, model: $0.model).newJob() }, on: db, logger: logger)
        }
    }
}
