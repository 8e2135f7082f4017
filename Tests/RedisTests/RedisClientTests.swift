import Foundation
import MarketplaceCore
import Redis
import Synchronization
import Testing
import TestSupport

/// Whether a call has returned: read from another task without awaiting the call.
final class Answered: Sendable {
    private let value = Mutex(false)
    func mark() { value.withLock { $0 = true } }
    var isMarked: Bool { value.withLock { $0 } }
}

@Suite(.timeLimit(.minutes(10))) struct RedisClientTests {
    /// The shared test Redis; every key is prefixed with a fresh id so parallel tests never collide.
    func withClient<Result: Sendable>(
        _ configure: (inout AppConfiguration.Redis) -> Void = { _ in },
        reconnectBackOff: Duration = .seconds(1),
        _ body: (RedisClient, String) async throws -> Result
    ) async throws -> Result {
        var configuration = try TestEnvironment.configuration().redis
        configure(&configuration)
        let client = RedisClient(configuration: configuration, logger: TestEnvironment.logger, reconnectBackOff: reconnectBackOff)
        let prefix = "test:\(UUID().uuidString):"
        do {
            let result = try await body(client, prefix)
            try await client.shutdown()
            return result
        } catch {
            try await client.shutdown()
            throw error
        }
    }

    @Test func setGetDeleteWithBinaryValuesAndExpiry() async throws {
        try await withClient { redis, prefix in
            let bytes: [UInt8] = [0, 1, 2, 255, 0, 10, 13]
            try await redis.set(prefix + "k", bytes, expiresIn: .seconds(60))
            #expect(try await redis.get(prefix + "k") == bytes)
            let ttl = try await redis.send("PTTL", RedisArgument(prefix + "k")).integer ?? -1
            #expect(ttl > 0 && ttl <= 60_000)
            #expect(try await redis.delete([prefix + "k", prefix + "missing"]) == 1)
            #expect(try await redis.get(prefix + "k") == nil)
        }
    }

    @Test func pipelineSendsManyCommandsAndKeepsPerCommandErrors() async throws {
        try await withClient { redis, prefix in
            var commands: [[RedisArgument]] = (0..<100).map { _ in ["INCR", RedisArgument(prefix + "counter")] }
            commands.append(["SET", RedisArgument(prefix + "text"), "hello"])
            commands.append(["INCR", RedisArgument(prefix + "text")])      // fails: not an integer
            commands.append(["GET", RedisArgument(prefix + "text")])
            let replies = try await redis.pipeline(commands)
            #expect(replies.count == 103)
            #expect(replies[99] == .integer(100))
            #expect(replies[100] == .status("OK"))
            guard case .error(let message) = replies[101] else {
                Issue.record("expected an error reply, got \(replies[101])")
                return
            }
            #expect(message.contains("not an integer"))
            #expect(replies[102].string == "hello")
            try await redis.delete([prefix + "counter", prefix + "text"])
        }
    }

    @Test func errorReplyIsThrownAsServerError() async throws {
        try await withClient { redis, prefix in
            try await redis.send("SET", RedisArgument(prefix + "s"), "x")
            await #expect(throws: RedisError.self) { try await redis.send("LPUSH", RedisArgument(prefix + "s"), "y") }
            // The connection is still fine afterwards.
            #expect(try await redis.get(prefix + "s") == Array("x".utf8))
            try await redis.delete([prefix + "s"])
        }
    }

    @Test func concurrentCallersShareASmallPool() async throws {
        try await withClient({ $0.poolSize = 2; $0.commandTimeout = .seconds(5) }) { redis, prefix in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<200 { group.addTask { try await redis.send("INCR", RedisArgument(prefix + "n")) } }
                try await group.waitForAll()
            }
            #expect(try await redis.send("GET", RedisArgument(prefix + "n")).integer == 200)
            let figures = await redis.figures
            #expect(figures.open <= 2 && figures.waiting == 0)
            try await redis.delete([prefix + "n"])
        }
    }

    @Test func aSlowCommandTimesOutAndTheClientCarriesOn() async throws {
        // The call's own timeout: the PING after it keeps the ordinary one, so a slow reconnect is not a failure.
        try await withClient { redis, prefix in
            let start = ContinuousClock.now
            await #expect(throws: RedisError.timeout) {
                try await redis.send(["BLPOP", RedisArgument(prefix + "never"), "2"], timeout: .milliseconds(200))
            }
            // Fast means seconds, not the minute a hung connection would take; loaded CI machines add latency.
            #expect(ContinuousClock.now - start < .seconds(20))
            let pong = try await redis.send("PING")
            #expect(pong == .status("PONG"))
        }
    }

    /// A slow command times out alone: callers pipelined behind it on the same connection still get their replies
    /// (before, its timeout closed the shared connection and failed them all).
    ///
    /// The order is read from Redis itself (CLIENT LIST, from a second client): the slow command blocks there, then the
    /// one behind it arrives and waits in the connection's input, and only then, the slow one still unanswered, does
    /// its timeout count. Should the timeout beat those steps (a stalled machine), the round proves nothing and is run
    /// again with a longer one; the test fails only if no round kept the order.
    @Test func aTimedOutCommandFailsAloneOnASharedConnection() async throws {
        try await withClient({ $0.poolSize = 1; $0.commandTimeout = .seconds(30) }) { redis, prefix in
            let watcher = RedisClient(configuration: try TestEnvironment.configuration().redis, logger: TestEnvironment.logger)
            let id = try #require(try await redis.send("CLIENT", "ID").integer)   // the one connection
            func connection(_ holds: (String) -> Bool) async throws -> Bool {
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline {
                    if let line = try await watcher.send("CLIENT", "LIST", "ID", RedisArgument(id)).string, holds(line) { return true }
                    try await Task.sleep(for: .milliseconds(10))
                }
                return false
            }
            var ordered = false
            for (round, timeout) in [Duration.seconds(1), .seconds(4), .seconds(16)].enumerated() where !ordered {
                let key = prefix + "never-\(round)"
                let answered = Answered()
                let slow = Task {
                    defer { answered.mark() }
                    return try await redis.send(["BLPOP", RedisArgument(key), "0"], timeout: timeout)
                }
                #expect(try await connection { $0.contains("flags=b") && $0.contains("cmd=blpop") }, "the BLPOP blocks in Redis")
                let behind = Task { try await redis.send(["SET", RedisArgument(prefix + "k"), "v"], timeout: .seconds(30)) }
                #expect(try await connection { !$0.contains(" qbuf=0 ") }, "the SET waits behind it on the same connection")
                ordered = !answered.isMarked
                await #expect(throws: RedisError.timeout) { try await slow.value }
                // Redis answers the BLPOP now; its late reply is read and dropped, and the SET's follows.
                _ = try await watcher.send("LPUSH", RedisArgument(key), "x")
                #expect(try await behind.value == .status("OK"), "the caller behind the slow one is answered")
                #expect(try await redis.get(prefix + "k") == Array("v".utf8))
                try await redis.delete([prefix + "k", key])
            }
            try await watcher.shutdown()
            #expect(ordered, "in some round the SET was queued behind the BLPOP before the BLPOP timed out")
        }
    }

    @Test func unreachableRedisFailsFastAndTyped() async throws {
        // A back-off longer than any stall: the second call surely falls inside it.
        try await withClient({ $0.port = 1 }, reconnectBackOff: .seconds(60)) { redis, _ in
            let start = ContinuousClock.now
            await #expect(throws: RedisError.self) { try await redis.ping() }
            // Within the back-off, calls fail at once without another connect attempt.
            do {
                _ = try await redis.ping()
                Issue.record("ping succeeded against a closed port")
            } catch let error as RedisError {
                guard case .unavailable = error else {
                    Issue.record("expected unavailable, got \(error)")
                    return
                }
            }
            // Fast means seconds, not the minute a hung connection would take; loaded CI machines add latency.
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(await redis.figures.lastError != nil)
        }
    }

    @Test func survivesARedisRestartWhileInUse() async throws {
        let server = try await RedisProcess.start()
        let client = RedisClient(
            // Generous timeouts: this test is about reconnecting, and a loaded CI machine can be slow to answer.
            configuration: .init(host: "127.0.0.1", port: server.port, poolSize: 3, connectTimeout: .seconds(3), commandTimeout: .seconds(3)),
            logger: TestEnvironment.logger,
            reconnectBackOff: .milliseconds(100)
        )
        do {
            // Fill the pool with idle connections.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<6 { group.addTask { try await client.set("k\(index)", [1]) } }
                try await group.waitForAll()
            }
            #expect(await client.figures.idle > 0)

            try await server.kill()
            await #expect(throws: RedisError.self) { try await client.ping() }

            let restarted = try await RedisProcess.start(port: server.port)
            // The idle connections are dead; the client notices, reconnects and answers. A call may still meet a dead
            // connection whose close the event loop has not read yet (a loaded machine): that call fails, the next
            // ones reconnect.
            var answered: RedisValue?
            for _ in 0..<50 where answered == nil {
                try await Task.sleep(for: .milliseconds(150))   // past the back-off from a failed call
                answered = try? await client.send("PING")
            }
            #expect(answered == .status("PONG"))
            try await client.set("after", Array("restart".utf8))
            #expect(try await client.get("after") == Array("restart".utf8))
            try await restarted.kill()
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test func afterShutdownCallsFailWithClosed() async throws {
        let client = RedisClient(configuration: try TestEnvironment.configuration().redis, logger: TestEnvironment.logger)
        _ = try await client.ping()
        try await client.shutdown()
        await #expect(throws: RedisError.self) { try await client.ping() }
    }
}
