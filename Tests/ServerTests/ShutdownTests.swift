import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import MarketplaceCore
import ServiceLifecycle
import ServiceLifecycleTestKit
import Storage
import Testing
import TestSupport

@testable import Server

@Suite(.timeLimit(.minutes(2))) struct ShutdownTests {
    @Test func gracefulShutdownFinishesInFlightRequestsThenStops() async throws {
        try await TestDatabase.with { database in
            let dependencies = try await TestApp.dependencies(database: database)
            let router = buildRouter(dependencies)
            // The handler says when it is entered, so shutdown is triggered under a request that is surely in flight.
            let (entered, enter) = AsyncStream.makeStream(of: Void.self)
            router.get("/slow") { _, _ in
                enter.yield()
                try await Task.sleep(for: .milliseconds(600))
                return "finished"
            }
            let port = FreePort.next()   // below the ephemeral range other tests bind into
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                services: [dependencies.database.client, dependencies.redis,
                           MigrationService(database: dependencies.database, migrator: dependencies.migrator, logger: dependencies.logger)],
                logger: dependencies.logger
            )
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: String?.self) { group in
                    group.addTask {
                        try await ServiceGroup(services: [app], logger: dependencies.logger).run()
                        return nil
                    }
                    group.addTask {
                        // Wait until the server answers, then start a slow request and shut down under it.
                        for _ in 0..<100 {
                            if (try? await HTTPClient.shared.execute(.init(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(1))) != nil { break }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                        async let slow = HTTPClient.shared.execute(.init(url: "http://127.0.0.1:\(port)/slow"), timeout: .seconds(30))
                        for await _ in entered { break }
                        trigger.triggerGracefulShutdown()
                        let response = try await slow
                        return String(buffer: try await response.body.collect(upTo: 1024))
                    }
                    var answers: [String] = []
                    for try await answer in group { if let answer { answers.append(answer) } }
                    #expect(answers == ["finished"])
                }
            }
        }
    }
}

/// A client that started a request and went quiet cannot hold the process past `SHUTDOWN_TIMEOUT`.
@Suite(.timeLimit(.minutes(2))) struct StuckConnectionShutdownTests {
    @Test func shutdownNeverWaitsPastItsDeadlineForAStuckConnection() async throws {
        try await TestDatabase.with { database in
            var configuration = try TestEnvironment.configuration(["SHUTDOWN_TIMEOUT": "2", "HTTP_IDLE_TIMEOUT": "120"])
            configuration.database = database
            let dependencies = try await Dependencies(configuration: configuration, logger: TestEnvironment.logger)
            let port = FreePort.next()
            let app = buildApplication(dependencies, host: "127.0.0.1", port: port, migrateOnStart: false, backgroundJobs: false)
            let group = ServiceGroup(configuration: serviceGroupConfiguration(app, configuration: configuration, signals: [], logger: TestEnvironment.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var up = false
                for _ in 0..<200 where !up {
                    up = (try? await HTTPClient.shared.execute(.init(url: "http://127.0.0.1:\(port)/health/live"), timeout: .seconds(1))) != nil
                    if !up { try await Task.sleep(for: .milliseconds(50)) }
                }
                try #require(up)
                // A request whose body never comes: its connection stays open (the idle timeout is two minutes).
                let head = "POST /api/auth/exchange HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":"
                let stuck = Task { try await RawClient.exchange(port: port, send: Array(head.utf8), timeout: 60) }
                try await Task.sleep(for: .milliseconds(300))
                let started = ContinuousClock.now
                await group.triggerGracefulShutdown()
                try await tasks.next()
                let took = ContinuousClock.now - started
                #expect(took < .seconds(10), "stopped \(took) after the signal; SHUTDOWN_TIMEOUT is 2 s")
                stuck.cancel()
                _ = try? await stuck.value
            }
        }
    }
}

@Suite struct MigrationServiceCancellationTests {
    /// A cancelled start (say the HTTP port was taken) ends the retry loop instead of spinning on instant failures.
    @Test func cancellationEndsTheRetryLoop() async throws {
        let configuration = try TestEnvironment.configuration(["DATABASE_URL": "postgres://nobody:pw@127.0.0.1:1/none"])
        let database = Database(configuration: configuration.database, logger: TestEnvironment.logger)
        let service = MigrationService(database: database, migrator: Migrator(migrations: try Migration.bundled()), logger: TestEnvironment.logger)
        let task = Task { try await service.run() }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        let finished = try await withTimeout(.seconds(3)) { try? await task.value; return true }
        #expect(finished)
    }
}
