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

@Suite(.timeLimit(.minutes(10))) struct ShutdownTests {
    @Test func gracefulShutdownFinishesInFlightRequestsThenStops() async throws {
        try await TestDatabase.with { database in
            let dependencies = try await TestApp.dependencies(database: database)
            let router = buildRouter(dependencies)
            // The handler says when it is entered, and finishes only once the server is seen shutting down: the
            // shutdown surely happens under a request in flight.
            let (entered, enter) = AsyncStream.makeStream(of: Void.self)
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            router.get("/slow") { _, _ in
                enter.yield()
                for await _ in released { break }
                try Task.checkCancellation()   // a handler the shutdown cancelled does not pass for one that finished
                return "finished"
            }
            let port = FreePort.next()   // below the ephemeral range other tests bind into
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                services: [dependencies.database, dependencies.redis,
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
                        // Wait until the server listens, then start a slow request and shut down under it.
                        try #require(try await LoopbackSockets.until { LoopbackSockets.isListening(port: port) })
                        async let slow = HTTPClient.shared.execute(.init(url: "http://127.0.0.1:\(port)/slow"), timeout: .seconds(60))
                        for await _ in entered { break }
                        trigger.triggerGracefulShutdown()
                        // The server has stopped listening (its shutdown began) while the request is still in its handler.
                        #expect(try await LoopbackSockets.until { !LoopbackSockets.isListening(port: port) }, "the shutdown began")
                        release.yield()
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
@Suite(.timeLimit(.minutes(10))) struct StuckConnectionShutdownTests {
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
                try #require(try await LoopbackSockets.until { LoopbackSockets.isListening(port: port) })
                // A request whose body never comes: its connection stays open (the idle timeout is two minutes).
                let head = "POST /api/auth/exchange HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":"
                let stuck = try QuietConnection(port: port, sending: Array(head.utf8))
                defer { stuck.close() }
                // The server has accepted it and read its head before the shutdown: it is a request in progress.
                try #require(try await LoopbackSockets.until { LoopbackSockets.serverHasRead(port: port, from: stuck.localPort) },
                             "the server took the stuck request: client \(stuck.localPort), \(LoopbackSockets.describe(port: port))")
                let started = ContinuousClock.now
                await group.triggerGracefulShutdown()
                try await tasks.next()
                let took = ContinuousClock.now - started
                #expect(took < .seconds(10), "stopped \(took) after the signal; SHUTDOWN_TIMEOUT is 2 s")
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
