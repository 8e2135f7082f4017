import Foundation
import Logging
import MarketplaceCore
import Pipeline
import PostgresNIO
import Redis
import Storage

/// Checks the dependencies with short, bounded timeouts, so health answers within about a
/// second even when Postgres or Redis is down (postgres-nio's own pool wait is about a minute).
struct HealthChecker: Sendable {
    let database: Database
    let redis: RedisClient
    let migrator: Migrator
    let startedAt: Date
    let pipelines: PipelineRegistry?
    let logger: Logger
    var postgresTimeout: Duration = .milliseconds(1500)   // three quarters of DB_FAST_TIMEOUT_MS

    /// Ready: Postgres answers and every migration is applied. Redis is not required.
    func readiness() async -> HealthReport {
        let postgres = await checkPostgres()
        return HealthReport(status: postgres.status == "up" ? .ok : .down, checks: ["postgres": postgres])
    }

    /// Every dependency; `degraded` when only Redis is down, `down` when Postgres is.
    func detailed() async -> HealthReport {
        async let postgres = checkPostgres()
        async let redis = checkRedis()
        let checks = await ["postgres": postgres, "redis": redis]
        let pipelines = pipelinesReport()
        let status: HealthReport.Status =
            checks["postgres"]?.status != "up" ? .down
            : checks["redis"]?.status != "up" || pipelines?.status == "error" ? .degraded : .ok
        return HealthReport(
            status: status, version: MarketplaceVersion.current,
            uptimeSeconds: Int(Date().timeIntervalSince(startedAt)),
            startedAt: startedAt.formatted(.iso8601), checks: checks, pipelines: pipelines
        )
    }

    func pipelinesReport() -> HealthReport.Pipelines? {
        guard let pipelines else { return nil }
        let snapshot = pipelines.snapshot
        return HealthReport.Pipelines(
            status: snapshot.lastError == nil && snapshot.current != nil ? "ok" : "error", file: pipelines.path,
            hash: snapshot.current?.hash, count: snapshot.current?.pipelines.count ?? 0,
            loadedAt: snapshot.loadedAt?.formatted(.iso8601), errors: snapshot.lastError?.diagnostics.map(\.description))
    }

    func checkPostgres() async -> HealthReport.Dependency {
        let figures = database.poolFigures
        var result = HealthReport.Dependency(
            status: "down", pool: ["max_connections": figures.maxConnections, "in_use": figures.inUse]
        )
        let start = ContinuousClock.now
        do {
            let status = try await withTimeout(postgresTimeout) { [migrator, database, logger] in
                try await migrator.status(database, logger: logger)
            }
            result.latencyMs = Self.milliseconds(ContinuousClock.now - start)
            result.migrations = .init(applied: status.applied, pending: status.pending)
            if status.isCurrent {
                result.status = "up"
            } else {
                result.error = "migrations pending"
            }
        } catch {
            result.error = Self.summary(of: error)
        }
        return result
    }

    func checkRedis() async -> HealthReport.Dependency {
        let figures = await redis.figures
        var result = HealthReport.Dependency(
            status: "down",
            pool: ["max_connections": figures.maxConnections, "open": figures.open, "idle": figures.idle, "waiting": figures.waiting]
        )
        do {
            result.latencyMs = Self.milliseconds(try await redis.ping())
            result.status = "up"
        } catch {
            result.error = error.description
        }
        return result
    }

    static func milliseconds(_ duration: Duration) -> Double {
        (Double(duration / .microseconds(1)) / 1000 * 100).rounded() / 100
    }

    /// What went wrong, in words fit for a health body: no connection strings, no credentials.
    static func summary(of error: any Error) -> String {
        switch error {
        case let error as TimeoutError: "no answer within \(error.timeout)"
        case let error as MigrationError: error.description
        case let error as PSQLError: error.isRefusedByServer ? error.serverMessage : "postgres error: \(error.code)"
        default: "\(type(of: error))"
        }
    }
}
