import AsyncHTTPClient
import Foundation
import Ingest
import MarketplaceCore
import Nango
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TestSupport

@testable import Server

/// Real faults against the real `marketplace` process, on a Postgres cluster and a Redis of the test's own.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FaultTests {
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
}
