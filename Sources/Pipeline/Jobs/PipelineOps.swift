import Foundation
import Logging
import MarketplaceCore
import Storage

/// Why an ops request on the queue was refused; mapped once at the HTTP edge.
public enum PipelineOpsError: Error, Sendable, Equatable {
    case jobNotFound
    /// Only dead, failed or cancelled jobs are retried.
    case jobNotRetryable(status: String)
}

/// What ops look at and fix in the pipeline: the job queue, the quarantine, a company's sync state and the
/// masked credentials. The admin API (and later the console) read through here, not through the tables.
public struct PipelineOps: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func jobs(status: String?, limit: Int, logger: Logger) async throws -> [JobRecord] {
        try await database.withConnection { db in try await JobsTable.list(status: status, limit: limit, on: db, logger: logger) }
    }

    /// Where each state's count of ``jobCounts(logger:)`` stops: a count of this many means that many or more.
    public static let jobCountCap = JobsTable.countCap

    public func jobCounts(logger: Logger) async throws -> [String: Int] {
        try await database.withConnection { db in try await JobsTable.countsByStatus(on: db, logger: logger) }
    }

    /// Puts a dead, failed or cancelled job back in the queue with fresh attempts; returns it as queued.
    public func retry(jobId: Int64, logger: Logger) async throws -> JobRecord {
        let (retried, job) = try await database.withConnection { db in
            let retried = try await JobsTable.retry(id: jobId, on: db, logger: logger)
            return (retried, try await JobsTable.find(id: jobId, on: db, logger: logger))
        }
        guard let job else { throw PipelineOpsError.jobNotFound }
        guard retried else { throw PipelineOpsError.jobNotRetryable(status: job.status) }
        return job
    }

    public func quarantine(
        pipeline: String?, companyId: UUID?, status: String, field: String? = nil, limit: Int, logger: Logger
    ) async throws -> [QuarantineEntry] {
        try await database.withConnection { db in
            try await QuarantineTable.list(pipeline: pipeline, companyId: companyId, status: status, field: field, limit: limit, on: db, logger: logger)
        }
    }

    /// Open entries by pipeline and the field their reasons name.
    public func quarantineByReason(logger: Logger) async throws -> [(pipeline: String, field: String?, count: Int)] {
        try await database.withConnection { db in try await QuarantineTable.openByReason(on: db, logger: logger) }
    }

    /// A company's sync state per model and its recent runs; nil when there is no such company.
    public func syncView(companyId: UUID, logger: Logger) async throws -> CompanySyncView? {
        try await database.withConnection { db in
            guard let company = try await CompaniesTable.find(id: companyId, on: db, logger: logger) else { return nil }
            return CompanySyncView(
                company: company,
                models: try await SyncStateTable.states(company.identity, on: db, logger: logger),
                recentRuns: try await PipelineRunsTable.recent(companyId: company.id, limit: 20, on: db, logger: logger))
        }
    }

    /// Connection credentials as ops may see them: never a token, only a short fingerprint.
    public func credentials(limit: Int, logger: Logger) async throws -> [CredentialSummary] {
        try await database.withConnection { db in try await ConnectionCredentialsTable.summaries(limit: limit, on: db, logger: logger) }
    }
}

/// A company's sync state per model and its recent runs.
public struct CompanySyncView: Sendable {
    public let company: CompanyRecord
    public let models: [SyncModelState]
    public let recentRuns: [PipelineRun]
}
