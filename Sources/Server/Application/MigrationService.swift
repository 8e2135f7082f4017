import Logging
import ServiceLifecycle
import Storage

/// Applies migrations at start. While Postgres is unreachable it keeps retrying with back-off
/// (readiness stays down meanwhile) so the service recovers by itself; an edited or failing
/// migration stops the start, since no retry can fix it.
struct MigrationService: Service {
    let database: Database
    let migrator: Migrator
    let logger: Logger
    var maximumBackOff: Duration = .seconds(15)

    func run() async throws {
        var backOff = Duration.milliseconds(250)
        // Cancelled (another service failed, e.g. the port was taken): stop, never spin on instant failures.
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                _ = try await database.ping(timeout: .seconds(2), logger: logger)
                let report = try await migrator.migrate(database, logger: logger)
                logger.info("migrations current", metadata: [
                    "applied_now": "\(report.applied.count)", "already_applied": "\(report.alreadyApplied)",
                ])
                break
            } catch let error as MigrationError {
                logger.critical("migration refused", metadata: ["error": "\(error)"])
                throw error
            } catch where Task.isCancelled || error is CancellationError {
                return
            } catch {
                logger.warning("postgres not reachable, will retry migrations", metadata: [
                    "error": "\(String(reflecting: error))", "retry_in_ms": "\(backOff / .milliseconds(1))",
                ])
                let delay = backOff
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                backOff = min(backOff * 2, maximumBackOff)
            }
        }
        // A service that returns would stop the whole group: stay until shutdown.
        try? await gracefulShutdown()
    }
}
