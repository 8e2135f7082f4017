import Foundation
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// The real `marketplace serve` on a brand-new database: its first start logs no warning and no error. Workers,
/// scheduler and listeners query tables the migrations create, so they must wait for them.
@Suite(.timeLimit(.minutes(10))) struct StartupLogTests {
    static let logger = TestEnvironment.logger

    /// `postgres://user:password@host:port/name` of a test database.
    static func url(_ database: AppConfiguration.Database) -> String {
        let password = database.password.map { ":" + $0.value } ?? ""
        return "postgres://\(database.username)\(password)@\(database.host):\(database.port)/\(database.name)"
    }

    static func count(_ sql: String, on connection: PostgresConnection) async throws -> Int {
        try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(sql)"), logger: logger).collect()[0].decode(Int.self)
    }

    /// The log's lines at warning or above (`LOG_FORMAT=json`: one object a line, its `level` a field). A ping of
    /// Postgres that took over 2 s on a loaded machine is retried with a warning that says so: honest, not a fault of
    /// the start, so it is left out.
    static func loudLines(_ path: String) -> [String] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init).filter { line in
            ["warning", "error", "critical"].contains { line.contains(#""level":"\#($0)""#) }
                && !line.contains("postgres not reachable, will retry migrations")
        }
    }

    static let pipelinesFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("pipelines.yaml").path

    /// While this instance starts, another one holds the migration lock (as when it applies them), so the schema stays
    /// empty for as long as the test wants: anything that queries it before the migrations would log its failure.
    /// The lock is let go once the server says where its background services are (failing, or waiting); then the
    /// server migrates, becomes ready, its workers listen and its scheduler runs a round, and the log has no line at
    /// warning or above.
    @Test func aFirstStartOnAFreshDatabaseLogsNoWarningOrError() async throws {
        try await TestDatabase.with { configuration in
            let environment = TestEnvironment.values([
                "DATABASE_URL": Self.url(configuration), "LOG_LEVEL": "info", "LOG_FORMAT": "json",
                "PIPELINES_FILE": Self.pipelinesFile, "SHUTDOWN_TIMEOUT": "5",
            ])
            try await Database.running(configuration) { database in
                let server = try await database.withConnection { connection in
                    try await connection.query("SELECT pg_advisory_lock(\(Migrator.lockKey))", logger: Self.logger)
                    let server = try await ServerProcess.start(environment: environment, readyPath: "/health/live")
                    let deadline = ContinuousClock.now + .seconds(60)
                    var blocked = false, reported = false
                    while !(blocked && reported), ContinuousClock.now < deadline, server.isRunning {
                        blocked = try await Self.count("""
                            pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                              AND query LIKE '%pg_advisory_xact_lock%'
                            """, on: connection) == 1
                        let log = (try? String(contentsOfFile: server.logPath, encoding: .utf8)) ?? ""
                        reported = !Self.loudLines(server.logPath).isEmpty || log.contains("background services wait for the migrations")
                        if !(blocked && reported) { try await Task.sleep(for: .milliseconds(50)) }
                    }
                    #expect(blocked, "the server's migrations wait on the lock: \(server.logTail())")
                    #expect(reported, "the log says where the background services are: \(server.logTail())")
                    try await connection.query("SELECT pg_advisory_unlock(\(Migrator.lockKey))", logger: Self.logger)
                    return server
                }
                // Ready, then the background services at work: the instance's listening connection is up and the scheduler ran a round.
                let deadline = ContinuousClock.now + .seconds(60)
                var started = false
                while !started, ContinuousClock.now < deadline, server.isRunning {
                    if await RawClient.status(port: server.port, path: "/health/ready") == 200 {
                        started = try await database.withConnection { connection in
                            let listening = try await Self.count(
                                "pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'", on: connection)
                            let ran = try await Self.count("scheduled_tasks WHERE last_finished_at IS NOT NULL", on: connection)
                            return listening >= 1 && ran >= 1
                        }
                    }
                    if !started { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(started, "ready, workers listening, a scheduled task run: \(server.logTail())")
                let loud = Self.loudLines(server.logPath)
                #expect(loud.isEmpty, "the first start logged at warning or above:\n\(loud.prefix(10).joined(separator: "\n"))")
                server.signal(SIGTERM)
                #expect(await server.waitForExit(timeout: .seconds(30)) == 0, "\(server.logTail())")
            }
        }
    }
}
