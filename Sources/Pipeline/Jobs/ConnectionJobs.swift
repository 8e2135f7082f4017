import Connections
import Foundation
import Logging
import Metrics
import MarketplaceCore
import Nango
import Storage

/// `connection.upsert` (and `connection.refresh`): fetch the connection from Nango, store the company and
/// its sealed credentials; a new connection then syncs every model its pipelines read.
public struct ConnectionUpsertHandler: JobHandler {
    let importer: ConnectionImporter
    let database: Database
    let syncs: SyncRequests
    let logger: Logger

    public var kinds: [String] { [ConnectionJob.Operation.upsert.rawValue, ConnectionJob.Operation.refresh.rawValue] }

    let metrics: any MetricsFactory

    public init(importer: ConnectionImporter, database: Database, syncs: SyncRequests, metrics: any MetricsFactory, logger: Logger) {
        self.metrics = metrics
        self.importer = importer
        self.database = database
        self.syncs = syncs
        self.logger = logger
    }

    /// `token_refresh_total{outcome}`: success, retry (Nango or the provider failed for now), failed (the grant is gone:
    /// the company is `refresh_failed`), unknown_connection.
    func countRefresh(_ outcome: String) {
        Counter(label: "token_refresh_total", dimensions: [("outcome", outcome)], factory: metrics).increment()
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let job = try context.decode(ConnectionJob.self)
        let refresh = job.operation == .refresh
        let connection: NangoConnection
        do {
            connection = try await importer.fetch(job.identity, forceRefresh: refresh)
        } catch {
            if refresh {
                var unknown = false
                if case .notFound = error { unknown = true }
                countRefresh(error.isTransient ? "retry" : unknown ? "unknown_connection" : "failed")
            }
            throw await NangoJobFailure(database: database).jobError(
                for: error, company: job.identity, lease: context.lease, refreshing: refresh, logger: logger)
        }
        // The company, and the first syncs it needs, in one write: a worker that dies in between leaves neither.
        let (company, ids) = try await context.write(database, logger: logger) { transaction in
            let before = try await CompaniesTable.find(job.identity, on: transaction.connection, logger: logger)
            let company = try await importer.store(connection, in: transaction, logger: logger)
            // A company back from `refresh_failed` (a successful refresh or auth webhook) resumes its syncs from their checkpoints.
            let reactivated = before.map { $0.status != .active } ?? false
            guard job.operation == .upsert || reactivated else { return (company, [Int64]()) }
            // The first sync of each model the company's pipelines read.
            let ids = try await syncs.enqueue(
                job.identity, provider: company.provider, reason: reactivated ? "connection active again" : "connection created",
                on: transaction.connection, logger: logger)
            return (company, ids)
        }
        if refresh { countRefresh("success") }
        if !ids.isEmpty { logger.info("connection stored", metadata: ["company_id": "\(company.id)", "syncs": "\(ids.count)"]) }
        return .succeeded
    }
}

/// `connection.refresh_failed` and `connection.disconnected`: the company's status, with Nango's reason kept.
public struct ConnectionStatusHandler: JobHandler {
    let database: Database
    let logger: Logger

    public var kinds: [String] { [ConnectionJob.Operation.refreshFailed.rawValue, ConnectionJob.Operation.disconnected.rawValue] }

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let job = try context.decode(ConnectionJob.self)
        let status: CompanyStatus = job.operation == .disconnected ? .disconnected : .refreshFailed
        let reason = job.error.map { $0["description"]?.string ?? $0["type"]?.string ?? $0.jsonText }
        let companyId = try await changeCompanyStatus(job.identity, to: status, reason: reason, database: database, lease: context.lease, logger: logger)
        if companyId == nil {
            logger.notice("status change for an unknown connection", metadata: ["connection": "\(job.identity)", "status": "\(status.rawValue)"])
        }
        return .succeeded
    }
}

/// `forward.received`: a provider webhook Nango forwarded. It is kept in the inbox for audit and replay;
/// when the connection is known, each model its pipelines read syncs so the change lands soon.
public struct ForwardHandler: JobHandler {
    let database: Database
    let syncs: SyncRequests
    let logger: Logger

    public var kinds: [String] { ForwardJob.kinds }

    public init(database: Database, syncs: SyncRequests, logger: Logger) {
        self.database = database
        self.syncs = syncs
        self.logger = logger
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        guard let identity = try context.decode(ForwardJob.self).identity else {
            return .succeeded   // unmatched: Nango found no connection; stored for ops to look at
        }
        try await context.write(database, logger: logger) { transaction in
            guard let company = try await CompaniesTable.find(identity, on: transaction.connection, logger: logger) else { return }
            _ = try await syncs.enqueue(identity, provider: company.provider, reason: "forwarded webhook", on: transaction.connection, logger: logger)
        }
        return .succeeded
    }
}
