import Foundation
import Logging
import PostgresNIO
import Synchronization

/// A job's hold on its row: the worker that claimed it, and the job.
public struct JobLease: Sendable, Equatable {
    public let jobId: Int64
    public let owner: String

    public init(jobId: Int64, owner: String) {
        self.jobId = jobId
        self.owner = owner
    }
}

/// A write made for a job whose lease its worker no longer holds: the job is another worker's now, and the write
/// was rolled back.
public struct LeaseLostError: Error, Sendable, Equatable, CustomStringConvertible {
    public let lease: JobLease

    public var description: String { "job \(lease.jobId): the lease of \(lease.owner) is no longer held" }
}

/// The one transaction a write to tables that clients read commits in. Whatever it changes is recorded with
/// ``changed(companyId:_:)``; those cache versions are bumped in the same transaction just before it commits, so no
/// reader anywhere finds an answer cached before the write once the write is visible. The change feed's rows are
/// written in the same transaction too, by migration 0022's triggers on the tables themselves: no writer, this
/// function's or any other, can commit a visible change without its change.
public final class WriteTransaction: Sendable {
    public let connection: PostgresConnection
    private let changes = Mutex<[UUID: Set<Resource>]>([:])

    init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Marks `resources` of a company changed by this transaction (`.companies` also makes the company's own
    /// answer stale).
    public func changed(companyId: UUID, _ resources: Set<Resource>) {
        guard !resources.isEmpty else { return }
        changes.withLock { $0[companyId, default: []].formUnion(resources) }
    }

    /// The changes in company order, so two writers of the same companies take the version rows in one order.
    var pending: [(companyId: UUID, resources: Set<Resource>)] {
        changes.withLock { changes in changes.sorted { $0.key.uuidString < $1.key.uuidString }.map { ($0.key, $0.value) } }
    }
}

extension Database {
    /// Runs `body` in one transaction that commits with its cache version bumps. With a `lease`, the transaction first
    /// checks that the job's worker still holds it and locks the job's row until the commit (fencing): a worker that
    /// stalled past its lease cannot write over the one that took the job over, its last write included.
    public func write<Result>(
        fencedBy lease: JobLease?, logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (WriteTransaction) async throws -> sending Result
    ) async throws -> sending Result {
        try await withTransaction(logger: logger, isolation: isolation) { db in
            if let lease, !(try await JobsTable.holdsLease(id: lease.jobId, owner: lease.owner, on: db, logger: logger)) {
                throw LeaseLostError(lease: lease)
            }
            let transaction = WriteTransaction(connection: db)
            let result = try await body(transaction)
            for change in transaction.pending {
                try await CacheVersionsTable.bump(companyId: change.companyId, resources: change.resources, on: db, logger: logger)
            }
            return result
        }
    }

    /// Runs `body` in a read-only transaction: Postgres refuses any write made in it (25006), so a job's reads
    /// cannot hide an unfenced write.
    public func read<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await withTransaction(logger: logger, isolation: isolation) { db in
            try await db.query("SET TRANSACTION READ ONLY", logger: logger)
            return try await body(db)
        }
    }
}
