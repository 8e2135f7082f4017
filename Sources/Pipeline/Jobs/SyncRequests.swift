import Foundation
import Logging
import MarketplaceCore
import Nango
import PostgresNIO
import Storage

/// Asking for syncs: one place decides which models a company syncs and how its jobs are queued, for the
/// API's "sync now", a new connection, a forwarded webhook and the ops actions.
public struct SyncRequests: Sendable {
    let database: Database
    let registry: PipelineRegistry

    public init(database: Database, registry: PipelineRegistry) {
        self.database = database
        self.registry = registry
    }

    /// A sync of each model the company's pipelines read; a job of the same key already waiting is reused.
    /// Returns each model's job id, new or waiting.
    public func enqueue(
        _ identity: ConnectionIdentity, provider: String, reason: String, on db: PostgresConnection, logger: Logger
    ) async throws -> [Int64] {
        var ids: [Int64] = []
        for model in registry.current?.models(integration: identity.integrationId, provider: provider) ?? [] {
            ids.append(try await enqueue(SyncJob(identity, model: model, reason: reason), on: db, logger: logger))
        }
        return ids
    }

    /// One sync, unless one of its key is already waiting (then that one's id).
    public func enqueue(_ job: SyncJob, on db: PostgresConnection, logger: Logger) async throws -> Int64 {
        try await JobsTable.enqueueOrWaiting(job.newJob(maxAttempts: registry.current?.defaults.retry.maxAttempts ?? 8), on: db, logger: logger)
    }
}

extension SyncRequests {
    /// What "sync now" queued.
    public struct Queued: Sendable {
        public var jobIds: [Int64]
        public var models: [String]
        public var nangoTriggered: Bool
    }

    /// "Sync now" for a company: with `askNango`, Nango first runs its syncs of these models (by the names its
    /// sync webhooks reported), then a sync of each model is queued (one already waiting is reused).
    public func syncNow(companyId: UUID, askNango: Bool, nango: NangoClient, logger: Logger) async throws -> Queued {
        guard let company = try await database.withConnection({ db in try await CompaniesTable.find(id: companyId, on: db, logger: logger) }) else {
            throw SyncRequestError.companyNotFound
        }
        guard company.status == .active else { throw SyncRequestError.companyInactive(company.status) }
        let models = registry.current?.models(integration: company.integrationId, provider: company.provider) ?? []
        var nangoTriggered = false
        if askNango {
            let names = try await database.withConnection { db in
                try await WebhookEventsTable.syncNames(company.identity, models: models, on: db, logger: logger)
            }
            if !names.isEmpty {
                do {
                    try await nango.triggerSync(.init(syncs: names, providerConfigKey: company.integrationId, connectionId: company.connectionId))
                    nangoTriggered = true
                } catch {
                    throw SyncRequestError.nangoRefused(error)
                }
            }
        }
        let ids = try await database.withConnection { db in try await enqueue(company.identity, provider: company.provider, reason: "api", on: db, logger: logger) }
        return Queued(jobIds: ids, models: models, nangoTriggered: nangoTriggered)
    }
}
