import Foundation
import Logging
import MarketplaceCore
import Redis

/// Our Redis client (pipelined SwiftNIO connections, hiredis replies) beside redis-benchmark with the same
/// concurrency, in the same run.
enum RedisScenario {
    static func run(_ run: BenchRun) async throws -> [Row] {
        progress("redis client vs redis-benchmark")
        let configuration = try AppConfiguration.load(environment: run.settings.serverEnvironment.merging([
            "NANGO_SECRET_KEY": "unused", "TOKEN_ENCRYPTION_KEY": Data(count: 32).base64EncodedString(),
        ]) { _, new in new }).redis
        let client = RedisClient(configuration: configuration, logger: Logger(label: "bench"))
        let duration = Duration.seconds(run.settings.duration)
        let callers = configuration.poolSize
        let one = try await rate(callers: 1, for: duration) { _ = try await client.ping() }
        let many = try await rate(callers: callers, for: duration) { _ = try await client.ping() }
        let batch = Array(repeating: [RedisArgument("PING")], count: 100)
        let pipelined = try await rate(callers: 1, for: duration) { _ = try await client.pipeline(batch) } * 100
        try await client.shutdown()

        let ceilingOne = try await run.tools.redisBenchmark(["-c", "1", "-n", "100000"])
        let ceilingMany = try await run.tools.redisBenchmark(["-c", "\(callers)", "-n", "200000"])
        let ceilingPipelined = try await run.tools.redisBenchmark(["-c", "1", "-P", "100", "-n", "2000000"])
        func row(_ name: String, _ value: Double, _ ceiling: String, _ ceilingValue: Double) -> Row {
            Row(section: .redis, name: name, figure: .quantity(.rate(value, "ops/s")), ceiling: Ceiling(name: ceiling, quantity: .rate(ceilingValue, "ops/s")))
        }
        return [
            row("PING, 1 caller", one, "redis-benchmark -c 1", ceilingOne),
            row("PING, \(callers) callers (sharing pipelined connections)", many, "redis-benchmark -c \(callers)", ceilingMany),
            row("pipelines of 100 PINGs", pipelined, "redis-benchmark -P 100", ceilingPipelined),
        ]
    }

    /// Operations per second completed by `callers` concurrent loops over `duration`.
    static func rate(callers: Int, for duration: Duration, _ operation: @escaping @Sendable () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        let deadline = start + duration
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<callers {
                group.addTask {
                    var count = 0
                    while ContinuousClock.now < deadline {
                        try await operation()
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        return perSecond(total, ContinuousClock.now - start)
    }
}
