import Foundation
import Logging
import Pipeline
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization
import Testing
import TestSupport

/// A job whose database connection the server drops mid-write, with a statement then sent on it: postgres-nio never
/// answers such a call. The worker gives the run up once the connection has been closed under it for a lease, records
/// the failure and retries the job; before, the run waited forever while the lease was renewed, blocking its key.
@Suite(.timeLimit(.minutes(4))) struct JobDeadConnectionTests {
    struct StuckOnADeadConnection: JobHandler {
        let database: Database
        let runs = ManagedCounter()
        var kinds: [String] { ["test.dead-connection"] }

        func run(_ context: JobContext) async throws -> JobOutcome {
            guard runs.next() == 0 else { return .succeeded }
            try await context.write(database, logger: TestEnvironment.logger) { transaction in
                try await DeadConnection.kill(transaction.connection, database: database)
                _ = try await transaction.connection.query("SELECT 1", logger: TestEnvironment.logger).collect()
            }
            return .succeeded
        }
    }

    @Test func aRunStuckOnAConnectionTheServerDroppedIsGivenUpAndTheJobRetried() async throws {
        try await TestDatabase.withClient { database in
            let handler = StuckOnADeadConnection(database: database)
            let worker = JobWorkerService(
                database: database, handlers: [handler], configuration: .init(concurrency: 1, lease: .seconds(2), pollInterval: .milliseconds(100)),
                logger: TestEnvironment.logger)
            let id = try await database.withConnection { db in
                try await JobsTable.enqueue(NewJob(kind: "test.dead-connection", payload: [:], concurrencyKey: "dead"), eventID: nil, on: db, logger: TestEnvironment.logger)
            }
            let group = ServiceGroup(configuration: .init(services: [worker], logger: TestEnvironment.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let started = ContinuousClock.now
                let deadline = started + .seconds(120)
                var job = try await database.withConnection { db in try await JobsTable.find(id: id, on: db, logger: TestEnvironment.logger) }
                while job?.status != "succeeded", ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                    job = try await database.withConnection { db in try await JobsTable.find(id: id, on: db, logger: TestEnvironment.logger) }
                }
                #expect(job?.status == "succeeded", "the job ran again after its stuck run was given up: \(String(describing: job))")
                print("dead connection: the job stuck on it succeeded on its retry \(ContinuousClock.now - started) after it was queued")
                #expect(job?.attempts == 2)
                #expect(handler.runs.value.withLock { $0 } == 2)
                let history = try await database.query(
                    "SELECT error_history::text FROM jobs WHERE id = \(id)", logger: TestEnvironment.logger)
                // Given up as stuck; on a loaded machine the lease may lapse first (renewals late), and the run is given up
                // as lost: either way the worker's slot is free again, which the success above needs (concurrency 1).
                let errors = try history.first?.decode(String.self) ?? ""
                #expect(errors.contains("the database connection closed while the work still waited on it") || errors.contains("expired"), "\(errors)")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }
}
