import Foundation
import Logging
import MarketplaceCore
import Metrics
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization

/// Claims jobs from the `jobs` table and runs them, up to `concurrency` at once. Wakes on `LISTEN jobs`
/// (a trigger notifies on insert and re-queue) and on a poll; on graceful shutdown it claims nothing
/// more, lets running jobs finish their current page and release their leases, then returns.
public final class JobWorkerService: Service {
    public struct Configuration: Sendable {
        public var concurrency: Int
        public var lease: Duration
        public var pollInterval: Duration

        public init(concurrency: Int = 2, lease: Duration = .seconds(30), pollInterval: Duration = .seconds(1)) {
            self.concurrency = concurrency
            self.lease = lease
            self.pollInterval = pollInterval
        }
    }

    let database: Database
    let handlers: [String: any JobHandler]
    let configuration: Configuration
    let retryPolicy: @Sendable () -> RetryPolicy
    let logger: Logger
    /// This worker's name; each claim's lease owner is it and the claim's number.
    public let owner: String
    let claims = Atomic<Int>(0)
    let stopping = StopFlag()

    final class StopFlag: Sendable {
        let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .acquiring) }
        func set() { flag.store(true, ordering: .releasing) }
    }

    enum Event: Sendable { case wake, finished, stop }

    public init(
        database: Database, handlers: [any JobHandler], configuration: Configuration,
        retryPolicy: @escaping @Sendable () -> RetryPolicy = { .standard }, logger: Logger
    ) {
        self.database = database
        var byKind: [String: any JobHandler] = [:]
        for handler in handlers { for kind in handler.kinds { byKind[kind] = handler } }
        self.handlers = byKind
        self.configuration = configuration
        self.retryPolicy = retryPolicy
        self.logger = logger
        self.owner = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"
    }

    public func run() async throws {
        let (events, emit) = AsyncStream.makeStream(of: Event.self)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.database.listen("jobs", listening: { emit.yield(.wake) }) { _ in emit.yield(.wake) } }
                group.addTask { await self.tick(emit) }
                var running = 0
                emit.yield(.wake)
                for await event in events {
                    if event == .finished { running -= 1 }
                    if stopping.isSet {
                        if running == 0 { break }
                        continue
                    }
                    while running < configuration.concurrency, !stopping.isSet, let (job, owner) = await claim() {
                        running += 1
                        group.addTask {
                            await self.execute(job, owner: owner)
                            emit.yield(.finished)
                        }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.set()
            emit.yield(.stop)
        }
        logger.info("job workers stopped", metadata: ["owner": "\(owner)"])
    }

    /// The poll, and the reaper of leases whose worker vanished.
    func tick(_ emit: AsyncStream<Event>.Continuation) async {
        var ticks = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.pollInterval)
            ticks += 1
            if ticks % 5 == 0 {
                do {
                    let maxAttempts = retryPolicy().maxAttempts
                    let reaped = try await database.withConnectionUnlessDropped { [logger] db in
                        try await JobsTable.reapExpiredLeases(maxAttempts: maxAttempts, on: db, logger: logger)
                    }
                    if reaped > 0 {
                        Counter(label: "jobs_leases_expired_total").increment(by: reaped)
                        logger.warning("took back jobs whose lease expired", metadata: ["count": "\(reaped)"])
                    }
                } catch {
                    logger.debug("lease reaper skipped a round", metadata: ["error": "\(error)"])
                }
            }
            emit.yield(.wake)
        }
    }

    /// The next job and the lease owner of this claim: the worker's name and the claim's number, so a run given up
    /// (left behind on a dropped connection) cannot pass the fence of a later claim of the same job by this worker.
    func claim() async -> (ClaimedJob, String)? {
        let owner = "\(self.owner)-\(claims.add(1, ordering: .relaxed).newValue)"
        do {
            // Awaited by the loop that starts every job: a claim stuck on a dropped connection would stop them all.
            return try await database.withConnectionUnlessDropped { [configuration, logger] db in
                try await JobsTable.claim(owner: owner, lease: configuration.lease, on: db, logger: logger)
            }.map { ($0, owner) }
        } catch let error as PSQLError where error.isUniqueViolation {
            return nil   // another worker took a job of the same key at the same moment
        } catch {
            logger.warning("claiming a job failed", metadata: ["error": "\(String(reflecting: error))"])
            return nil
        }
    }

    func execute(_ job: ClaimedJob, owner: String) async {
        var logger = self.logger
        logger[metadataKey: "job_id"] = "\(job.id)"
        logger[metadataKey: "job_kind"] = "\(job.kind)"
        let started = ContinuousClock.now
        let result: Result<JobOutcome, any Error>
        if let handler = handlers[job.kind] {
            let context = JobContext(job: job, owner: owner, isStopping: { [stopping] in stopping.isSet })
            result = await withLease(job, owner: owner) { try await handler.run(context) }
        } else {
            result = .failure(JobError.permanent("no handler for job kind '\(job.kind)'"))
        }
        var outcome = "unrecorded"
        // Each write is given up if its connection is dropped under it: the lease then lapses and the reaper puts the
        // job back, where a write stuck on the dead connection would hold the worker's slot for good.
        do {
            switch result {
            case .success(.succeeded):
                outcome = JobStatus.succeeded.rawValue
                try await database.withConnectionUnlessDropped { [owner, logger] db in try await JobsTable.succeed(id: job.id, owner: owner, on: db, logger: logger) }
            case .success(.released(let runAt, let note)):
                outcome = "released"
                try await database.withConnectionUnlessDropped { [owner, logger] db in
                    try await JobsTable.release(id: job.id, owner: owner, runAt: runAt, note: note, on: db, logger: logger)
                }
            case .success(.cancelled(let reason)):
                outcome = JobStatus.cancelled.rawValue
                try await database.withConnectionUnlessDropped { [owner, logger] db in
                    try await JobsTable.cancel(id: job.id, owner: owner, reason: reason, on: db, logger: logger)
                }
            case .failure(JobError.leaseLost):
                outcome = "lease_lost"
                logger.warning("lease lost; the job belongs to another worker now")
            case .failure(let error):
                let policy = retryPolicy()
                let retryAt: Date?
                switch error {
                case JobError.permanent: retryAt = nil
                case _ where job.attempts >= min(job.maxAttempts, policy.maxAttempts): retryAt = nil
                case JobError.retryAfter(let delay, _): retryAt = Date().addingTimeInterval(Self.seconds(delay))
                default: retryAt = Date().addingTimeInterval(Self.seconds(Backoff.delay(attempt: job.attempts, policy: policy)))
                }
                let message = String(describing: error)
                let status = try await database.withConnectionUnlessDropped { [owner, logger] db in
                    try await JobsTable.fail(id: job.id, owner: owner, error: message, retryAt: retryAt, on: db, logger: logger)
                }
                outcome = (status ?? .failed).rawValue
                logger.warning("job failed", metadata: [
                    "error": "\(error)", "attempt": "\(job.attempts)", "status": "\(status?.rawValue ?? "?")",
                    "retry_at": "\(retryAt.map { Timestamps.format($0) } ?? "never")",
                ])
            }
        } catch {
            // The lease runs out and the reaper puts the job back: nothing is lost.
            logger.error("recording a job's outcome failed", metadata: ["error": "\(String(reflecting: error))"])
        }
        Counter(label: "jobs_processed_total", dimensions: [("kind", job.kind), ("outcome", outcome)]).increment()
        Timer(label: "job_duration_seconds", dimensions: [("kind", job.kind)]).record(duration: ContinuousClock.now - started)
    }

    /// Runs `body` while renewing the job's lease. Losing the lease, or a connection the job holds being closed under
    /// it for longer than `lease`, cancels the body and leaves it behind rather than waiting for it: a postgres-nio call
    /// on a connection the server dropped never returns (see `ConnectionWatch`), and waiting for one kept a job running,
    /// its lease renewed and its key blocked, for minutes. Whatever it still sends is fenced by the lease.
    func withLease(_ job: ClaimedJob, owner: String, _ body: @escaping @Sendable () async throws -> JobOutcome) async -> Result<JobOutcome, any Error> {
        let watch = ConnectionWatch()
        do {
            return .success(try await withWatchdog {
                try await ConnectionWatch.$current.withValue(watch) { try await body() }
            } watchdog: {
                try await self.keepLease(job, owner: owner, watch: watch)
            })
        } catch is LeaseLostError {
            return .failure(JobError.leaseLost)
        } catch {
            return .failure(error)
        }
    }

    /// Renews the job's lease every third of it until cancelled; throws once the lease is lost, or once a connection
    /// the job's work holds has been closed under it for a whole lease.
    func keepLease(_ job: ClaimedJob, owner: String, watch: ConnectionWatch) async throws {
        let lease = configuration.lease
        // The lease as this worker last knew it held; past it (renewals failing), the job may be another's.
        var heldUntil = ContinuousClock.now + lease
        while true {
            try await Task.sleep(for: lease / 3)
            if watch.closedUnderWork(for: lease) {
                logger.warning("a job's database connection closed under it; its run is given up and recorded failed",
                               metadata: ["job_id": "\(job.id)", "job_kind": "\(job.kind)"])
                throw ConnectionClosedError()
            }
            let asked = ContinuousClock.now
            do {
                // A renewal stuck on a connection the server dropped is given up as failed at the lease's end.
                let held = try await withTimeout(lease) { [database, logger] in
                    try await database.withConnection { db in
                        try await JobsTable.renewLease(id: job.id, owner: owner, lease: lease, on: db, logger: logger)
                    }
                }
                if !held { throw JobError.leaseLost }
                heldUntil = asked + lease
            } catch let error as JobError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // Postgres is unreachable: keep trying until the lease lapses, then stop the job (its commits are
                // fenced anyway: each checks the lease in its own transaction).
                logger.debug("lease renewal failed", metadata: ["error": "\(error)"])
                if ContinuousClock.now >= heldUntil { throw JobError.leaseLost }
            }
        }
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
