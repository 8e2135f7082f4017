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
@Suite(.timeLimit(.minutes(10))) struct JobDeadConnectionTests {
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

    /// Queues one job of `kind` and runs `body` with its id beside a worker with `handler`: one slot, so the job's
    /// retry needs the slot its stuck run held; a 6-s lease, which a loaded machine rarely lets lapse between renewals.
    static func withWorker(
        _ handler: some JobHandler, kind: String, on database: Database, _ body: (Int64) async throws -> Void
    ) async throws {
        let worker = JobWorkerService(
            database: database, handlers: [handler], configuration: .init(concurrency: 1, lease: .seconds(6), pollInterval: .milliseconds(100)),
            logger: TestEnvironment.logger)
        let id = try await database.withConnection { db in
            try await JobsTable.enqueue(NewJob(kind: kind, payload: [:], concurrencyKey: kind), eventID: nil, on: db, logger: TestEnvironment.logger)
        }
        let group = ServiceGroup(configuration: .init(services: [worker], logger: TestEnvironment.logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body(id)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func aRunStuckOnAConnectionTheServerDroppedIsGivenUpAndTheJobRetried() async throws {
        try await TestDatabase.withClient { database in
            let handler = StuckOnADeadConnection(database: database)
            try await Self.withWorker(handler, kind: "test.dead-connection", on: database) { id in
                let started = ContinuousClock.now
                let deadline = started + .seconds(120)
                var job = try await database.withConnection { db in try await JobsTable.find(id: id, on: db, logger: TestEnvironment.logger) }
                while job?.status != "succeeded", ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                    job = try await database.withConnection { db in try await JobsTable.find(id: id, on: db, logger: TestEnvironment.logger) }
                }
                #expect(job?.status == "succeeded", "the job ran again after its stuck run was given up: \(String(describing: job))")
                print("dead connection: the job stuck on it succeeded on its retry \(ContinuousClock.now - started) after it was queued")
                // Two runs, or more when a loaded machine let a lease lapse between renewals (each lapse is one more run).
                #expect((job?.attempts ?? 0) >= 2)
                #expect(handler.runs.value.withLock { $0 } >= 2)
                let history = try await database.query(
                    "SELECT error_history::text FROM jobs WHERE id = \(id)", logger: TestEnvironment.logger)
                // Given up as stuck; on a loaded machine the lease may lapse first (renewals late), and the run is given up
                // as lost: either way the worker's slot is free again, which the success above needs (concurrency 1).
                let errors = try history.first?.decode(String.self) ?? ""
                #expect(errors.contains("the database connection closed while the work still waited on it") || errors.contains("expired"), "\(errors)")
            }
        }
    }

    /// A run left behind goes on unobserved. When the same worker claims the job again, whatever the old run still
    /// writes must fail the lease's fence: each claim leases under an owner of its own (the worker's name alone would
    /// let the old run write beside the new one).
    struct LeftBehindThenWrites: JobHandler {
        let database: Database
        let table: String
        let runs = ManagedCounter()
        let secondRunStarted = Gate()
        let firstRunFinished = Gate()
        /// What became of the first run's late write.
        let firstRunWrite = Recorded()
        var kinds: [String] { ["test.fence"] }

        func run(_ context: JobContext) async throws -> JobOutcome {
            if runs.next() == 0 {
                // Holds a connection the server drops until the job's next claim runs: the worker gives this run up.
                try? await database.withConnection { connection in
                    try await DeadConnection.kill(connection, database: database)
                    await secondRunStarted.wait()
                }
                // Work that did not heed the cancellation: a write of its own, not cancelled.
                let outcome: String
                switch await Task(operation: { try await mark(1, context) }).result {
                case .success: outcome = "written"
                case .failure(JobError.leaseLost): outcome = "lease lost"
                case .failure(let error): outcome = "\(error)"
                }
                firstRunWrite.value.withLock { $0 = outcome }
                firstRunFinished.open()
                return .succeeded
            }
            secondRunStarted.open()
            await firstRunFinished.wait()
            try await mark(2, context)
            return .succeeded
        }

        func mark(_ run: Int, _ context: JobContext) async throws {
            try await context.write(database, logger: TestEnvironment.logger) { transaction in
                _ = try await transaction.connection.query("INSERT INTO \(unescaped: table) (run) VALUES (\(run))", logger: TestEnvironment.logger)
            }
        }
    }

    @Test func aRunLeftBehindCannotWriteOnceTheSameWorkerClaimsTheJobAgain() async throws {
        try await TestDatabase.withClient { database in
            let table = "fence_marks_\(UInt32.random(in: 0...UInt32.max))"
            try await database.query("CREATE TABLE \(unescaped: table) (run int NOT NULL)", logger: TestEnvironment.logger)
            let handler = LeftBehindThenWrites(database: database, table: table)
            try await Self.withWorker(handler, kind: "test.fence", on: database) { id in
                try await eventually("the job succeeds on a later claim") {
                    try await database.withConnection { db in try await JobsTable.find(id: id, on: db, logger: TestEnvironment.logger) }?.status == "succeeded"
                }
                #expect(handler.runs.value.withLock { $0 } >= 2)
                #expect(handler.firstRunWrite.value.withLock { $0 } == "lease lost", "the old run's write was fenced off")
                let marks = try await database.query("SELECT run FROM \(unescaped: table) ORDER BY run", logger: TestEnvironment.logger)
                    .map { try $0.decode(Int.self) }
                // The later claims' runs write 2 (a loaded machine can let a lease lapse, and a third run write again).
                #expect(!marks.isEmpty && marks.allSatisfy { $0 == 2 }, "only claims that held the lease wrote: \(marks)")
            }
        }
    }
}

/// Opens once; every waiter, before or after, goes on. Cancellation does not end a wait (a run left behind ignores it).
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

final class Recorded: Sendable {
    let value = Mutex<String?>(nil)
}
