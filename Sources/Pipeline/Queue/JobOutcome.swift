import Foundation
import Logging
import Storage

/// How a job run ended, as the worker records it.
public enum JobOutcome: Sendable, Equatable {
    case succeeded
    /// Give the job back without spending an attempt: shutdown, or a wait Nango asked for.
    case released(runAt: Date?, note: String?)
    /// Nothing to do any more (the company was disconnected meanwhile): finished, not failed, no retry.
    case cancelled(reason: String)
}

extension RunOutcome {
    /// How the pipeline runs of a read that returned `outcome` end.
    init(_ outcome: JobOutcome) {
        self = outcome == .succeeded ? .succeeded : .cancelled
    }
}

/// Errors a handler throws to steer the retry.
public enum JobError: Error, Sendable, CustomStringConvertible {
    /// Retrying cannot help (a malformed payload, a connection Nango does not know): dead at once.
    case permanent(String)
    /// Retry no sooner than this (Nango's `Retry-After`).
    case retryAfter(Duration, String)
    /// The lease was lost: another worker owns the job now.
    case leaseLost

    public var description: String {
        switch self {
        case .permanent(let reason): return reason
        case .retryAfter(let delay, let reason): return "\(reason) (retry after \(delay))"
        case .leaseLost: return "lease lost: another worker took the job over"
        }
    }
}

/// What a handler may ask of the worker running it.
public struct JobContext: Sendable {
    public let job: Storage.ClaimedJob
    /// The worker holding the job's lease: every commit made for the job checks it still does (fencing).
    public let owner: String
    /// True once the service is shutting down: finish the current page, then return `.released`.
    public let isStopping: @Sendable () -> Bool

    public init(job: Storage.ClaimedJob, owner: String, isStopping: @escaping @Sendable () -> Bool) {
        self.job = job
        self.owner = owner
        self.isStopping = isStopping
    }

    /// The lease every write made for the job is fenced by.
    public var lease: JobLease { JobLease(jobId: job.id, owner: owner) }

    /// A write made for the job: one transaction, fenced by the job's lease, committed with its cache version bumps.
    /// Every write a job makes goes through here (`ArchitectureTests` checks the handlers); reads go through
    /// `Database.read`.
    public func write<Result>(
        _ database: Database, logger: Logger, isolation: isolated (any Actor)? = #isolation,
        _ body: (WriteTransaction) async throws -> sending Result
    ) async throws -> sending Result {
        do {
            return try await database.write(fencedBy: lease, logger: logger, isolation: isolation, body)
        } catch is LeaseLostError {
            throw JobError.leaseLost
        }
    }

    /// Ends the job's pipeline runs in a write of their own (a failed or cancelled run's bookkeeping).
    func finishRuns(_ runIds: [Int64], _ outcome: RunOutcome, error: String? = nil, database: Database, logger: Logger) async throws {
        try await write(database, logger: logger) { transaction in
            try await PipelineRunsTable.finish(runIds: runIds, outcome: outcome, error: error, on: transaction.connection, logger: logger)
        }
    }

    /// The job's payload through its contract; a payload that does not fit is permanent (retrying cannot fix it).
    public func decode<Contract: JobContract>(_ contract: Contract.Type) throws -> Contract {
        do {
            return try Contract.decode(job)
        } catch {
            throw JobError.permanent(error.description)
        }
    }
}

/// Runs one kind of job.
public protocol JobHandler: Sendable {
    var kinds: [String] { get }
    func run(_ context: JobContext) async throws -> JobOutcome
}
