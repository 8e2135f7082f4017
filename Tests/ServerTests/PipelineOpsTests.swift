import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MarketplaceCore
import Pipeline
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization
import Testing
import TestSupport

@testable import Server

/// Operating the pipeline: hot reload, the check command, admin views, and leases released at shutdown.
@Suite(.timeLimit(.minutes(10))) struct PipelineOpsTests {
    static func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pipelines-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static var shipped: String { get throws { try String(contentsOfFile: PipelineLoaderTestsPath.file, encoding: .utf8) } }

    @Test func anInvalidEditKeepsTheLastGoodVersionAndAValidOneIsPickedUp() async throws {
        let path = try Self.temporaryFile(try Self.shipped)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let registry = PipelineRegistry(path: path)
        _ = registry.reload()
        let good = try #require(registry.current)
        let watcher = PipelineFileWatcher(registry: registry, interval: .milliseconds(50), logger: TestEnvironment.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await watcher.run() }
            defer { group.cancelAll() }
            try (try Self.shipped).replacingOccurrences(of: "target: products", with: "target: product").write(toFile: path, atomically: true, encoding: .utf8)
            try await Self.eventually { registry.snapshot.lastError != nil }
            #expect(registry.current?.hash == good.hash)
            #expect(registry.snapshot.lastError?.diagnostics.first?.message == "unknown target 'product'")
            let edited = try Self.shipped.replacingOccurrences(of: "page_size: 500", with: "page_size: 250")
            try edited.write(toFile: path, atomically: true, encoding: .utf8)
            try await Self.eventually { registry.current?.hash != good.hash }
            #expect(registry.snapshot.lastError == nil)
            #expect(registry.current?.defaults.pageSize == 250)
        }
    }

    static func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(condition())
    }

    @Test func theCheckCommandFailsOnABrokenFileAndPassesTheShippedOne() throws {
        let broken = try Self.temporaryFile("version: 1\npipelines:\n  - name: x\n    source: { integration: xero, model: Contact }\n    target: contact\n    stages: []\n")
        defer { try? FileManager.default.removeItem(atPath: broken) }
        #expect(throws: ExitCode.failure) { try PipelinesCommand.Check.parse([broken]).run() }
        try PipelinesCommand.Check.parse([PipelineLoaderTestsPath.file]).run()
        #expect(throws: ExitCode.failure) {
            try PipelinesCommand.Run.parse(["--pipeline", "nope", "--input", "/dev/null", "--file", PipelineLoaderTestsPath.file]).run()
        }
    }

    @Test func adminPipelinesAndJobsNeedTheTokenAndShowAReloadsErrors() async throws {
        let path = try Self.temporaryFile(try Self.shipped)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestApp.test(.router, ["PIPELINES_FILE": path]) { client in
            try await client.execute(uri: "/api/admin/pipelines", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/api/admin/pipelines", method: .get, headers: [.adminToken: "wrong"]) { response in
                #expect(response.status == .unauthorized)
            }
            let token: HTTPFields = [.adminToken: "test-admin-token-0123456789"]
            try await client.execute(uri: "/api/admin/pipelines", method: .get, headers: token) { response in
                #expect(response.status == .ok)
                let body = try TestApp.json(response.body)
                #expect((body["pipelines"] as? [Any])?.count == 10)
                #expect(body["errors"] == nil)
            }
            try "version: 1\npipelines: {}\n".write(toFile: path, atomically: true, encoding: .utf8)
            try await client.execute(uri: "/api/admin/pipelines/reload", method: .post, headers: token) { response in
                #expect(response.status == .unprocessableContent)
                let body = try TestApp.json(response.body)
                #expect((body["errors"] as? [String])?.first?.contains(":2:12: 'pipelines' must be a list") == true)
                #expect((body["pipelines"] as? [Any])?.count == 10)   // the last good version still runs
            }
            try await client.execute(uri: "/health/detailed", method: .get) { response in
                let body = try TestApp.json(response.body)
                #expect(body["status"] as? String == "degraded")
                #expect((body["pipelines"] as? [String: Any])?["status"] as? String == "error")
            }
            try await client.execute(uri: "/api/admin/jobs?status=bogus", method: .get, headers: token) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/api/admin/jobs/999/retry", method: .post, headers: token) { response in
                #expect(response.status == .notFound)
            }
        }
        try await TestApp.test(.router, ["ADMIN_TOKEN": ""]) { client in
            try await client.execute(uri: "/api/admin/pipelines", method: .get, headers: [.adminToken: "anything"]) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("admin_closed"))
            }
        }
    }

    /// Runs until told to stop, one "page" at a time.
    struct PagingHandler: JobHandler {
        let pages = ManagedCounter()
        var kinds: [String] { ["test.paging"] }

        func run(_ context: JobContext) async throws -> JobOutcome {
            while true {
                try await Task.sleep(for: .milliseconds(20))
                _ = pages.next()
                if context.isStopping() { return .released(runAt: nil, note: "released at shutdown") }
            }
        }
    }

    @Test func gracefulShutdownFinishesThePageAndReleasesTheLease() async throws {
        try await TestDatabase.withClient { database in
            do {
                let handler = PagingHandler()
                let worker = JobWorkerService(
                    database: database, handlers: [handler], configuration: .init(concurrency: 1, lease: .seconds(30), pollInterval: .milliseconds(100)),
                    logger: TestEnvironment.logger)
                let id = try await database.withConnection { db in
                    try await JobsTable.enqueue(NewJob(kind: "test.paging", payload: [:]), eventID: nil, on: db, logger: TestEnvironment.logger)
                }
                let group = ServiceGroup(configuration: .init(services: [worker], logger: TestEnvironment.logger))
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    try await Self.eventually { handler.pages.value.withLock({ $0 }) >= 3 }
                    let running = try await database.withConnection { db in try await JobsTable.find(id: id, on: db, logger: TestEnvironment.logger) }
                    #expect(running?.status == "running")
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
                let released = try await database.withConnection { db in try await JobsTable.find(id: id, on: db, logger: TestEnvironment.logger) }
                #expect(released?.status == "queued")
                #expect(released?.attempts == 0)
                #expect(released?.lastError == "released at shutdown")
                let leases = try await database.query("SELECT count(*)::int FROM jobs WHERE lease_owner IS NOT NULL", logger: TestEnvironment.logger)
                #expect(try leases.first?.decode(Int.self) == 0)
            }
        }
    }
}
