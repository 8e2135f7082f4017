import Connections
import Foundation
import Logging
import MarketplaceCore
import Nango
import Storage

/// `connection.upsert` (and `connection.refresh`): fetch the connection from Nango, store the company and
/// its sealed credentials; a new connection then syncs every model its pipelines read.
public struct ConnectionUpsertHandler: JobHandler {
    let importer: ConnectionImporter
    let database: Database
    let registry: PipelineRegistry
    let cache: any CacheInvalidating
    let logger: Logger

    public var kinds: [String] { [JobKind.connectionUpsert, JobKind.connectionRefresh] }

    public init(importer: ConnectionImporter, database: Database, registry: PipelineRegistry, cache: any CacheInvalidating, logger: Logger) {
        self.importer = importer
        self.database = database
        self.registry = registry
        self.cache = cache
        self.logger = logger
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        guard let connectionId = context.job.payload["connection_id"]?.string,
              let integrationId = context.job.payload["integration_id"]?.string else {
            throw JobError.permanent("connection job payload needs connection_id and integration_id")
        }
        let connection: NangoConnection
        do {
            connection = try await importer.fetch(
                connectionId: connectionId, integrationId: integrationId, forceRefresh: context.job.kind == JobKind.connectionRefresh)
        } catch .notFound {
            _ = try await changeCompanyStatus(
                connectionId: connectionId, to: "disconnected", reason: "the connection is unknown to Nango", database: database, cache: cache,
                logger: logger)
            throw JobError.permanent("connection \(connectionId) of \(integrationId) is unknown to Nango")
        } catch .rateLimited(let delay) {
            throw JobError.retryAfter(delay, "Nango rate limit")
        } catch {
            if context.job.kind == JobKind.connectionRefresh, !error.isTransient {
                _ = try await changeCompanyStatus(
                    connectionId: connectionId, to: "refresh_failed", reason: error.description, database: database, cache: cache, logger: logger)
                throw JobError.permanent(error.description)
            }
            throw error
        }
        let company = try await importer.store(connection, logger: logger)
        await cache.bump(companyId: company.id, resources: ["companies"])
        guard context.job.kind == JobKind.connectionUpsert else { return .succeeded }
        // The first sync of each model the company's pipelines read.
        let models = registry.current?.sources.filter { $0.integration == integrationId }.map(\.model) ?? []
        try await database.withConnection { db in
            for model in models {
                _ = try await JobsTable.enqueueUnlessQueued(
                    SyncRunner.job(connectionId: connectionId, integrationId: integrationId, model: model, reason: "connection created"),
                    on: db, logger: logger)
            }
        }
        logger.info("connection stored", metadata: ["company_id": "\(company.id)", "syncs": "\(models.count)"])
        return .succeeded
    }
}

/// `connection.refresh_failed` and `connection.disconnected`: the company's status, with Nango's reason kept.
public struct ConnectionStatusHandler: JobHandler {
    let database: Database
    let cache: any CacheInvalidating
    let logger: Logger

    public var kinds: [String] { [JobKind.connectionRefreshFailed, JobKind.connectionDisconnected] }

    public init(database: Database, cache: any CacheInvalidating, logger: Logger) {
        self.database = database
        self.cache = cache
        self.logger = logger
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        guard let connectionId = context.job.payload["connection_id"]?.string else {
            throw JobError.permanent("status job payload needs connection_id")
        }
        let status = context.job.kind == JobKind.connectionDisconnected ? "disconnected" : "refresh_failed"
        var reason: String?
        if let error = context.job.payload["error"], error != .null {
            reason = error["description"]?.string ?? error["type"]?.string ?? error.jsonText
        }
        let companyId = try await changeCompanyStatus(
            connectionId: connectionId, to: status, reason: reason, database: database, cache: cache, logger: logger)
        if companyId == nil { logger.notice("status change for an unknown connection", metadata: ["connection_id": "\(connectionId)", "status": "\(status)"]) }
        return .succeeded
    }
}

/// `forward.received`: a provider webhook Nango forwarded. It is kept in the inbox for audit and replay;
/// when the connection is known, each model its pipelines read syncs so the change lands soon.
public struct ForwardHandler: JobHandler {
    let database: Database
    let registry: PipelineRegistry
    let logger: Logger

    public var kinds: [String] { [JobKind.forward] }

    public init(database: Database, registry: PipelineRegistry, logger: Logger) {
        self.database = database
        self.registry = registry
        self.logger = logger
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        guard let connectionId = context.job.payload["connection_id"]?.string,
              let integrationId = context.job.payload["integration_id"]?.string else {
            return .succeeded   // unmatched: Nango found no connection; stored for ops to look at
        }
        let models = registry.current?.sources.filter { $0.integration == integrationId }.map(\.model) ?? []
        try await database.withConnection { db in
            guard try await CompaniesTable.find(connectionId: connectionId, on: db, logger: logger) != nil else { return }
            for model in models {
                _ = try await JobsTable.enqueueUnlessQueued(
                    SyncRunner.job(connectionId: connectionId, integrationId: integrationId, model: model, reason: "forwarded webhook"),
                    on: db, logger: logger)
            }
        }
        return .succeeded
    }
}
