import Foundation
import Logging
import MarketplaceCore
import Storage

/// What the overview shows: arrivals and throughput by minute, the queue by state, the quarantine, and each
/// company's sync lag (the oldest change Nango reported that is not synced yet).
public struct PipelineOverview: Sendable {
    public struct CompanyLag: Sendable {
        public var company: CompanyRecord
        public var lastSyncedAt: Date?
        public var oldestUnsynced: Date?
        public var fetchedLastHour: Int
    }

    public var since: Date
    public var webhooksPerMinute: [(minute: Date, count: Int)]
    public var fetchedPerMinute: [(minute: Date, count: Int)]
    public var jobCounts: [String: Int]
    public var quarantineOpen: [String: Int]
    public var companies: [CompanyLag]
}

extension PipelineOps {
    /// The last hour; companies are the first `companyLimit` by connection.
    public func overview(now: Date = Date(), companyLimit: Int = 50, logger: Logger) async throws -> PipelineOverview {
        let since = now.addingTimeInterval(-3600)
        return try await database.withConnection { db in
            let listed = try await CompaniesTable.list(after: nil, limit: companyLimit, on: db, logger: logger)
            let unsynced = try await WebhookEventsTable.oldestUnsynced(on: db, logger: logger)
            let fetched = try await PipelineRunsTable.fetchedByCompany(since: since, on: db, logger: logger)
            return PipelineOverview(
                since: since,
                webhooksPerMinute: try await WebhookEventsTable.perMinute(since: since, on: db, logger: logger),
                fetchedPerMinute: try await PipelineRunsTable.fetchedPerMinute(since: since, on: db, logger: logger),
                jobCounts: try await JobsTable.countsByStatus(on: db, logger: logger),
                quarantineOpen: try await QuarantineTable.openCounts(on: db, logger: logger),
                companies: listed.map { entry in
                    .init(company: entry.company, lastSyncedAt: entry.lastSyncedAt, oldestUnsynced: unsynced[entry.company.identity],
                          fetchedLastHour: fetched[entry.company.id] ?? 0)
                })
        }
    }

    public func companies(after: ConnectionIdentity?, limit: Int, logger: Logger) async throws -> [CompaniesTable.Listed] {
        try await database.withConnection { db in try await CompaniesTable.list(after: after, limit: limit, on: db, logger: logger) }
    }

    public func job(id: Int64, logger: Logger) async throws -> JobDetail? {
        try await database.withConnection { db in try await JobsTable.detail(id: id, on: db, logger: logger) }
    }

    /// A value that changes whenever an event arrives, a job moves or the quarantine changes: a live view
    /// refreshes its page when it differs from the last one it saw.
    public func changeSignature(logger: Logger) async throws -> String {
        try await database.withConnection { db in
            let newest = try await WebhookEventsTable.newestId(on: db, logger: logger)
            let jobs = try await JobsTable.lastChange(on: db, logger: logger)
            let quarantine = try await QuarantineTable.lastChange(on: db, logger: logger)
            return "\(newest)|\(jobs?.timeIntervalSince1970 ?? 0)|\(quarantine)"
        }
    }
}

extension PipelineOps {
    /// Records we hold for a company, as Nango sent them, that a pipeline reads: what a dry run can start from.
    public func storedRecords(for pipeline: PipelineDefinition, companyId: UUID, limit: Int, logger: Logger) async throws -> [String] {
        try await database.withConnection { db in
            if pipeline.target == .companies {
                return try await CompaniesTable.profileRecord(companyId: companyId, on: db, logger: logger).map { [$0.raw] } ?? []
            }
            return try await ResourceRowsTable.storedRecords(
                of: pipeline.target, companyId: companyId, model: pipeline.source.model, includeUnattributed: false, after: nil, limit: limit,
                on: db, logger: logger
            ).records.map(\.raw)
        }
    }
}
