import Foundation
import Logging
import MarketplaceCore
import Metrics
import ServiceLifecycle
import Storage

/// Scheduled jobs, safe with several instances: each tick, every instance tries to claim each due task
/// in `scheduled_tasks`; one wins, runs it and the rest wait for the next run.
public final class SchedulerService: Service {
    public struct ScheduledTask: Sendable {
        public var name: String
        public var interval: Duration
        public var body: @Sendable (Logger) async throws -> String

        public init(name: String, interval: Duration, body: @escaping @Sendable (Logger) async throws -> String) {
            self.name = name
            self.interval = interval
            self.body = body
        }
    }

    let database: Database
    let tasks: [ScheduledTask]
    let tick: Duration
    let logger: Logger

    public init(database: Database, tasks: [ScheduledTask], tick: Duration = .seconds(5), logger: Logger) {
        self.database = database
        self.tasks = tasks
        self.tick = tick
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            await runDueTasks()
            // The services after this one stop only once it has: a shutdown does not wait out the tick.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.tick) }
        }
    }

    /// One round: claims and runs each due task. Public for tests and `make bench`.
    public func runDueTasks() async {
        for task in tasks {
            do {
                // A round stuck on a connection Postgres dropped would stop every later one (see ConnectionWatch).
                try await ConnectionWatch.givingUp { try await self.runIfDue(task) }
            } catch {
                logger.debug("scheduler could not reach Postgres this round", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Claims `task` if due and runs it, recording its outcome.
    func runIfDue(_ task: ScheduledTask) async throws {
        let claimed = try await database.withConnection { db in
            try await ScheduledTasksTable.claim(name: task.name, every: task.interval, on: db, logger: self.logger)
        }
        guard claimed else { return }
        var logger = self.logger
        logger[metadataKey: "task"] = "\(task.name)"
        let summary: String
        do {
            summary = try await task.body(logger)
            try await recordFinish(task.name, outcome: .succeeded, error: nil, logger: logger)
            Counter(label: "scheduled_tasks_total", dimensions: [("task", task.name), ("outcome", RunOutcome.succeeded.rawValue)]).increment()
            logger.info("scheduled task ran", metadata: ["summary": "\(summary)"])
        } catch {
            Counter(label: "scheduled_tasks_total", dimensions: [("task", task.name), ("outcome", RunOutcome.failed.rawValue)]).increment()
            logger.warning("scheduled task failed", metadata: ["error": "\(error)"])
            do {
                try await recordFinish(task.name, outcome: .failed, error: "\(error)", logger: logger)
            } catch {
                logger.warning("could not record the scheduled task's failure", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A claimed task's end, retried a few times: the claim already moved `next_run_at` an interval ahead, so an end
    /// lost to one failed statement would show the task as running, with no outcome, until its next run.
    func recordFinish(_ name: String, outcome: RunOutcome, error: String?, logger: Logger) async throws {
        var attempt = 1
        while true {
            do {
                try await database.withConnection { db in
                    try await ScheduledTasksTable.finish(name: name, outcome: outcome, error: error, on: db, logger: logger)
                }
                return
            } catch where attempt < 5 && !Task.isCancelled {
                logger.debug("could not record the scheduled task's end; trying again", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                attempt += 1
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }
}

/// The scheduled tasks the pipeline ships.
public enum ScheduledTasks {
    public static let reconcile = "reconcile"
    public static let credentialRefresh = "credential_refresh"
    public static let cleanup = "cleanup"
    public static let fullResync = "full_resync"
    public static let driftCheck = "drift_check"

    public static func standard(
        database: Database, registry: PipelineRegistry, configuration: AppConfiguration.Jobs, drift: DriftCheck? = nil
    ) -> [SchedulerService.ScheduledTask] {
        let reconciliation = Reconciliation(database: database, registry: registry)
        let driftTasks: [SchedulerService.ScheduledTask] = drift.map { drift in
            // Every active connection's models against Nango's counts; the task runs once a round across instances.
            [.init(name: driftCheck, interval: configuration.driftCheckInterval) { logger in
                "\(try await drift.enqueue(companyId: nil, logger: logger).count) drift check(s) enqueued"
            }]
        } ?? []
        return driftTasks + [
            .init(name: reconcile, interval: configuration.reconcileInterval) { logger in
                guard registry.current != nil else { return "no pipelines loaded" }
                let count = try await reconciliation.enqueueStaleSyncs(maxAge: configuration.syncMaxAge, logger: logger)
                Counter(label: "reconcile_syncs_enqueued_total").increment(by: count)
                return "\(count) sync(s) enqueued"
            },
            .init(name: credentialRefresh, interval: configuration.credentialRefreshInterval) { logger in
                let ids = try await reconciliation.enqueueCredentialRefreshes(within: configuration.refreshWindow, all: false, logger: logger)
                return "\(ids.count) refresh job(s) enqueued"
            },
            // Hourly: a pipeline's `full_resync` interval is hours at the least.
            .init(name: fullResync, interval: .seconds(3600)) { logger in
                let ids = try await FullResyncs(database: database, registry: registry).enqueueDue(logger: logger)
                return "\(ids.count) full resync(s) enqueued"
            },
            .init(name: cleanup, interval: configuration.cleanupInterval) { logger in
                let summary = try await database.withConnection { db in
                    let events = try await WebhookEventsTable.deleteHandled(olderThan: configuration.inboxRetention, on: db, logger: logger)
                    let jobs = try await JobsTable.deleteFinished(olderThan: configuration.jobsRetention, on: db, logger: logger)
                    let runs = try await PipelineRunsTable.deleteFinished(olderThan: configuration.runsRetention, on: db, logger: logger)
                    return "deleted \(events) event(s), \(jobs) job(s), \(runs) run(s)"
                }
                let changes = try await ChangesTable.deleteExpired(olderThan: configuration.changesRetention, database: database, logger: logger)
                return summary + ", \(changes) change(s)"
            },
        ]
    }
}
