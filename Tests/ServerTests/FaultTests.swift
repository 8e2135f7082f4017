import AsyncHTTPClient
import Foundation
import Ingest
import MarketplaceCore
import Nango
import NIOCore
import NIOHTTP1
import PostgresNIO
import Storage
import Synchronization
import Testing
import TestSupport

@testable import Server

/// Real faults against the real `marketplace` process, on a Postgres cluster and a Redis of the test's own.
// The limit counts the wait for `OneAtATime` too: behind the chaos slice and the browser test that is minutes.
@Suite(.serialized, .timeLimit(.minutes(15))) struct FaultTests {
    static func environment(_ postgres: PostgresCluster, _ redis: RedisProcess, _ overrides: [String: String] = [:]) -> [String: String] {
        TestEnvironment.values([
            "DATABASE_URL": postgres.databaseURL,
            "REDIS_URL": "redis://127.0.0.1:\(redis.port)/0",
            "WORKER_COUNT": "0",
            "DB_FAST_TIMEOUT_MS": "2000",
            "SHUTDOWN_TIMEOUT": "5",
            "LOG_LEVEL": "info",
        ].merging(overrides) { $1 })
    }

    /// Senders posting signed webhooks until stopped; counts answers by status.
    final class Load: Sendable {
        final class Tally: Sendable {
            let answers = Mutex<[Int: Int]>([:])
            let stopped = Atomic<Bool>(false)
        }

        let tally = Tally()
        let task: Task<Void, Never>

        init(server: ServerProcess, senders: Int) {
            let tally = self.tally
            task = Task {
                await withTaskGroup(of: Void.self) { group in
                    for sender in 0..<senders {
                        group.addTask {
                            var n = 0
                            while !tally.stopped.load(ordering: .relaxed) {
                                n += 1
                                let body = #"{"connectionId":"load","from":"hubspot","payload":{"sender":\#(sender),"n":\#(n)},"providerConfigKey":"hubspot","type":"forward"}"#
                                let status = (try? await FloodTests.post(body, to: server).status) ?? 0
                                tally.answers.withLock { $0[status, default: 0] += 1 }
                                if status != 200 { try? await Task.sleep(for: .milliseconds(50)) }
                            }
                        }
                    }
                }
            }
        }

        func stop() async -> [Int: Int] {
            tally.stopped.store(true, ordering: .relaxed)
            await task.value
            return tally.answers.withLock { $0 }
        }
    }

    /// Reproduced from outside three times: under webhook load, Postgres crash-restarts; readiness comes back; then
    /// SIGTERM never finished. It must exit within SHUTDOWN_TIMEOUT plus a few seconds.
    @Test func shutdownAfterAPostgresCrashUnderLoadFinishesInTime() async throws {
        try await OneAtATime.processFaults.run { try await self.shutdownAfterAPostgresCrashUnderLoadFinishesInTimeAlone() }
    }

    func shutdownAfterAPostgresCrashUnderLoadFinishesInTimeAlone() async throws {
        let postgres = try await PostgresCluster.start()
        let redis = try await RedisProcess.start()
        let server = try await ServerProcess.start(environment: Self.environment(postgres, redis))
        let load = Load(server: server, senders: 8)
        try await Task.sleep(for: .seconds(1))
        try await postgres.crash()
        try await Task.sleep(for: .seconds(3))
        try await postgres.startServer()
        var ready = false
        let deadline = ContinuousClock.now + .seconds(60)
        while !ready, ContinuousClock.now < deadline {
            ready = await RawClient.status(port: server.port, path: "/health/ready") == 200
            if !ready { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(ready, "readiness comes back after the crash")
        try await Task.sleep(for: .seconds(2))
        let live = await RawClient.status(port: server.port, path: "/health/live", timeout: 5)
        let readyAgain = await RawClient.status(port: server.port, path: "/health/ready", timeout: 5)
        let probe = try? await FloodTests.post(#"{"connectionId":"probe","from":"hubspot","payload":{},"providerConfigKey":"hubspot","type":"forward"}"#, to: server)
        print("fault: before SIGTERM live \(live ?? 0) ready \(readyAgain ?? 0) webhook \(probe?.status ?? 0) in \(probe?.seconds ?? -1) s; load so far \(load.tally.answers.withLock { $0 })")
        let stopping = ContinuousClock.now
        server.signal(SIGTERM)
        let status = await server.waitForExit(timeout: .seconds(20))
        let tookToExit = ContinuousClock.now - stopping
        let answers = await load.stop()
        #expect(status != nil, "SIGTERM finished within SHUTDOWN_TIMEOUT (5 s) and a few seconds; log:\n\(server.logTail(lines: 40))")
        #expect(tookToExit < .seconds(15), "SHUTDOWN_TIMEOUT is 5 s")
        print("fault: SIGTERM after a Postgres crash: exited \(status.map(String.init) ?? "no") in \(tookToExit); load answers \(answers)")
        #expect((answers[200] ?? 0) > 0, "\(answers)")
        if status == nil {
            try? FileManager.default.removeItem(atPath: "/tmp/fault-server.log")
            try? FileManager.default.copyItem(atPath: server.logPath, toPath: "/tmp/fault-server.log")
            print("fault: the server did not exit; its log is in /tmp/fault-server.log")
            let stacks = try? await ChildProcess.run(["/usr/bin/gdb", "-p", "\(server.pid)", "-batch", "-ex", "thread apply all bt 30"])
            try? stacks?.write(toFile: "/tmp/fault-stacks.txt", atomically: true, encoding: .utf8)
            server.signal(SIGKILL)
        }
    }

    /// Postgres frozen (every process of its cluster stopped) for longer than a job lease while syncs run: webhooks
    /// are refused within 3 s, readiness fails, memory stays flat, and after SIGCONT everything recovers by itself:
    /// webhooks are stored, no job is left running, and the synced model ends with exactly the emulator's records.
    @Test func aFrozenPostgresIsSurvivedWithoutARestart() async throws {
        try await OneAtATime.processFaults.run { try await self.aFrozenPostgresIsSurvivedWithoutARestartAlone() }
    }

    func aFrozenPostgresIsSurvivedWithoutARestartAlone() async throws {
        let postgres = try await PostgresCluster.start()
        let redis = try await RedisProcess.start()
        let emulatorPort = FreePort.next(), serverPort = FreePort.next()
        let secret = "6f1c3a52-5a0e-4b43-9a55-2b8e0d4c1e77"
        let emulator = try await ServerProcess.start(
            environment: [:], arguments: [
                "--port", "\(emulatorPort)", "--secret-key", secret, "--webhook-secret", WebhookTests.key,
                "--webhook-url", "http://127.0.0.1:\(serverPort)/webhooks/nango", "--records", "400", "--webhook-retry-scale", "0.01",
            ], executable: "nango-emulator", port: emulatorPort, readyPath: "/_emulator/state")
        let server = try await ServerProcess.start(environment: Self.environment(postgres, redis, [
            "WORKER_COUNT": "2", "JOB_LEASE_SECONDS": "5", "NANGO_BASE_URL": "http://127.0.0.1:\(emulatorPort)",
            "NANGO_SECRET_KEY": secret, "LOG_LEVEL": "warning",
        ]), port: serverPort)
        let database = try AppConfiguration.Database.load(environment: ["DATABASE_URL": postgres.databaseURL])
        func int(_ sql: String) async throws -> Int {
            try await Database.running(database) { db in
                try await db.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger)[0].decode(Int.self)
            }
        }
        func eventually(_ what: String, timeout: Duration = .seconds(90), _ check: () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if (try? await check()) == true { return }
                try await Task.sleep(for: .milliseconds(250))
            }
            Issue.record("not within \(timeout): \(what)")
        }
        _ = try await FaultTests.control(emulatorPort, "/connections", #"{"provider_config_key": "hubspot", "connection_id": "frozen"}"#)
        try await eventually("initial syncs") {
            try await int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'frozen' AND last_success_at IS NOT NULL") == 3
        }
        // A big change set: its sync is running when Postgres freezes.
        _ = try await FaultTests.control(emulatorPort, "/connections/frozen/changes", #"{"provider_config_key": "hubspot", "model": "Product", "add": 3000, "update": 50, "delete": 20}"#)
        try await eventually("a sync running", timeout: .seconds(30)) {
            try await int("SELECT count(*)::int FROM jobs WHERE status = 'running' AND kind = 'sync.run'") > 0
        }
        let before = try #require(server.residentBytes)
        try postgres.freeze()
        // An open connection gets no answer: Postgres's processes are all stopped, not gone.
        let silent = try await RawClient.exchange(port: postgres.port, send: [0, 0, 0, 8, 4, 210, 22, 47], timeout: 2)
        #expect(silent.answer.isEmpty && !silent.closed, "a frozen Postgres neither answers nor closes")
        let frozenAt = ContinuousClock.now
        var webhookSeconds: [Double] = []
        var readiness: [Int?] = []
        while ContinuousClock.now - frozenAt < .seconds(12) {   // longer than the 5 s lease
            let answer = try await FloodTests.post(#"{"connectionId":"frozen","from":"hubspot","payload":{"t":\#(webhookSeconds.count)},"providerConfigKey":"hubspot","type":"forward"}"#, to: server)
            #expect(answer.status == 503, "while Postgres is frozen")
            webhookSeconds.append(answer.seconds)
            readiness.append(await RawClient.status(port: server.port, path: "/health/ready", timeout: 5))
        }
        let during = try #require(server.residentBytes)
        try postgres.thaw()
        #expect(webhookSeconds.allSatisfy { $0 < 3 }, "webhooks refused within 3 s: \(webhookSeconds)")
        #expect(readiness.allSatisfy { $0 == 503 }, "readiness fails: \(readiness)")
        #expect(during < before + 25 << 20, "memory flat: \(before >> 20) MiB before, \(during >> 20) MiB frozen")
        // It recovers by itself: webhooks are stored again, and the sync finishes with exactly Nango's records.
        try await eventually("webhooks stored again", timeout: .seconds(30)) {
            try await FloodTests.post(#"{"connectionId":"frozen","from":"hubspot","payload":{"after":true},"providerConfigKey":"hubspot","type":"forward"}"#, to: server).status == 200
        }
        try await eventually("jobs settled") {
            try await int("SELECT count(*)::int FROM jobs WHERE status IN ('queued', 'running', 'failed')") == 0
        }
        #expect(try await int("SELECT count(*)::int FROM jobs WHERE status = 'dead'") == 0)
        let live = try await FaultTests.liveRecords(emulatorPort, secret: secret, connection: "frozen", integration: "hubspot", model: "Product")
        func ids(_ sql: String) async throws -> [String] {
            try await Database.running(database) { db in
                try await db.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger).map { try $0.decode(String.self) }
            }
        }
        let products = try await ids("""
            SELECT p.external_id FROM products p JOIN companies c ON c.id = p.company_id WHERE c.connection_id = 'frozen' AND p.deleted_at IS NULL
            """)
        let quarantined = Set(try await ids("SELECT external_id FROM quarantine WHERE connection_id = 'frozen' AND model = 'Product' AND status = 'open'"))
        // Every live record is stored or quarantined (a record whose latest version is invalid keeps its last valid
        // row and an open quarantine entry), and nothing is stored that Nango no longer holds.
        let extra = Set(products).subtracting(live), missing = live.subtracting(products).subtracting(quarantined)
        #expect(products.count > 3000 && Set(products).count == products.count)
        #expect(extra.isEmpty && missing.isEmpty, "fault: extra \(extra.sorted().prefix(10)), missing \(missing.sorted().prefix(10))")
        print("fault: Postgres frozen 12 s: webhooks refused in at most \(webhookSeconds.max() ?? 0) s, RSS \(before >> 20) → \(during >> 20) MiB; converged to \(live.count) records")
        _ = emulator
    }

    static func control(_ port: Int, _ path: String, _ body: String) async throws -> String {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/_emulator\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 1 << 20))
    }

    /// How many of a model's records Nango holds now (deleted ones excluded), read through its own API.
    static func liveRecords(_ port: Int, secret: String, connection: String, integration: String, model: String) async throws -> Set<String> {
        let client = NangoClient(configuration: .init(baseURL: "http://127.0.0.1:\(port)", secretKey: Secret(secret)), logger: TestEnvironment.logger)
        var live = Set<String>()
        for try await page in client.records(NangoRecordsQuery(connectionId: connection, providerConfigKey: integration, model: model, limit: 1000)) {
            for record in page.records {
                if record.metadata.lastAction == .deleted || record.metadata.prunedAt != nil { live.remove(record.id) } else { live.insert(record.id) }
            }
        }
        return live
    }
}
