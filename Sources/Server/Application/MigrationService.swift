import Logging
import ServiceLifecycle
import Storage

/// Brings the schema up to date at start, then runs the services that query it. While Postgres is unreachable it
/// keeps retrying with back-off (readiness stays down meanwhile) so the service recovers by itself; an edited or
/// failing migration stops the start, since no retry can fix it.
///
/// Workers, the scheduler and the job listener query tables the migrations create: started beside the migrations,
/// they failed (and said so in the log) on every fresh database until the migrations committed. They are this
/// service's `dependents` instead, started once the schema is current.
struct MigrationService: Service {
    enum Mode: Sendable {
        /// Apply what is pending, under the migration lock (so another instance applying them is waited for).
        case apply
        /// Another process applies them (`serve --no-migrate`): wait until none is pending.
        case wait
    }

    let database: Database
    let migrator: Migrator
    let logger: Logger
    var mode: Mode = .apply
    /// Started once the schema is current, in a group of their own that stops them in reverse order when this
    /// service is asked to stop, as the application's group would.
    var dependents: [any Service] = []
    var maximumBackOff: Duration = .seconds(15)
    var pollInterval: Duration = .seconds(1)

    func run() async throws {
        if !dependents.isEmpty {
            logger.info("background services wait for the migrations", metadata: ["services": "\(dependents.map { "\(type(of: $0))" })"])
        }
        guard try await bringSchemaCurrent() else { return }
        guard !dependents.isEmpty else {
            // A service that returns would stop the whole group: stay until shutdown.
            try? await gracefulShutdown()
            return
        }
        try await ServiceGroup(configuration: .init(services: dependents.map { .init(service: $0) }, logger: logger)).run()
    }

    /// True once no migration is pending; false when the start is stopped or cancelled first.
    func bringSchemaCurrent() async throws -> Bool {
        var backOff = Duration.milliseconds(250)
        var announced = false
        // Cancelled (another service failed, e.g. the port was taken): stop, never spin on instant failures.
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            var delay = pollInterval
            do {
                _ = try await database.ping(timeout: .seconds(2), logger: logger)
                switch mode {
                case .apply:
                    let report = try await migrator.migrate(database, logger: logger)
                    logger.info("migrations current", metadata: [
                        "applied_now": "\(report.applied.count)", "already_applied": "\(report.alreadyApplied)",
                    ])
                    return true
                case .wait:
                    let status = try await migrator.status(database, logger: logger)
                    if status.isCurrent {
                        logger.info("migrations current", metadata: ["already_applied": "\(status.applied)"])
                        return true
                    }
                    if !announced {
                        logger.info("waiting for another process to apply the migrations", metadata: ["pending": "\(status.pending.count)"])
                        announced = true
                    }
                }
            } catch let error as MigrationError {
                logger.critical("migration refused", metadata: ["error": "\(error)"])
                throw error
            } catch where Task.isCancelled || error is CancellationError {
                return false
            } catch {
                logger.warning("postgres not reachable, will retry migrations", metadata: [
                    "error": "\(String(reflecting: error))", "retry_in_ms": "\(backOff / .milliseconds(1))",
                ])
                delay = backOff
                backOff = min(backOff * 2, maximumBackOff)
            }
            try? await cancelWhenGracefulShutdown { [delay] in try await Task.sleep(for: delay) }
        }
        return false
    }
}
