import Logging
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization
import Testing
import TestSupport

@testable import Server

/// The migration service starts the services that query the schema only once it is current: applied by itself, or
/// (`serve --no-migrate`) by another process it waits for.
@Suite(.timeLimit(.minutes(10))) struct MigrationGateTests {
    /// Lines logged, kept for the test to read.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }
    }

    struct Capture: LogHandler {
        let sink: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.lines.withLock { $0.append("\(event.level) \(event.message)") }
        }
    }

    /// A dependent service: on start it reports whether the tables the workers and the scheduler query exist.
    final class SchemaProbe: Service {
        let database: Database
        let report: AsyncStream<Bool>.Continuation
        let started = Mutex(false)

        init(database: Database, report: AsyncStream<Bool>.Continuation) {
            self.database = database
            self.report = report
        }

        func run() async throws {
            started.withLock { $0 = true }
            let rows = try await database.query(
                "SELECT to_regclass('jobs') IS NOT NULL AND to_regclass('scheduled_tasks') IS NOT NULL", logger: TestEnvironment.logger)
            report.yield(try rows[0].decode(Bool.self))
            try await gracefulShutdown()
        }
    }

    @Test func appliedHereTheDependentsStartOnACurrentSchema() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            let (seen, report) = AsyncStream.makeStream(of: Bool.self)
            let service = MigrationService(
                database: database, migrator: Migrator(migrations: try Migration.bundled()), logger: TestEnvironment.logger,
                mode: .apply, dependents: [SchemaProbe(database: database, report: report)])
            let task = Task { try await service.run() }
            var reports = seen.makeAsyncIterator()
            #expect(await reports.next() == true, "the probe found the schema when it started")
            task.cancel()
            _ = try? await task.value
        }
    }

    @Test func withoutMigratingItWaitsForAnotherProcessToApplyThem() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            let lines = Lines()
            let logger = Logger(label: "test") { _ in Capture(sink: lines) }
            let (seen, report) = AsyncStream.makeStream(of: Bool.self)
            let probe = SchemaProbe(database: database, report: report)
            let migrator = Migrator(migrations: try Migration.bundled())
            let service = MigrationService(
                database: database, migrator: migrator, logger: logger, mode: .wait, dependents: [probe], pollInterval: .milliseconds(20))
            let task = Task { try await service.run() }
            // It found migrations pending and said it waits; only then does the other process apply them.
            let deadline = ContinuousClock.now + .seconds(30)
            while !lines.contains("waiting for another process to apply the migrations"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(lines.contains("waiting for another process to apply the migrations"))
            #expect(!probe.started.withLock { $0 }, "no dependent started on a bare database")
            _ = try await migrator.migrate(database, logger: TestEnvironment.logger)
            var reports = seen.makeAsyncIterator()
            #expect(await reports.next() == true, "the probe found the schema when it started")
            // A ping slower than 2 s on a loaded machine is retried with a warning that says so; nothing else may warn.
            let loud = lines.lines.withLock { $0 }.filter {
                ($0.hasPrefix("warning") || $0.hasPrefix("error") || $0.hasPrefix("critical")) && !$0.contains("will retry migrations")
            }
            #expect(loud.isEmpty, "\(loud)")
            task.cancel()
            _ = try? await task.value
        }
    }
}
