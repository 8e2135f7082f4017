import Foundation
import Logging
import MarketplaceCore
import Redis

/// `marketplace-bench`: in-process scenarios for `make bench`, printed as `name value unit` lines that
/// scripts/bench.sh puts beside ceilings measured with the standard tools in the same run.
@main
enum BenchmarkMain {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.first == "redis", let url = arguments.dropFirst().first else {
            FileHandle.standardError.write(Data("usage: marketplace-bench redis REDIS_URL [seconds]\n".utf8))
            exit(64)
        }
        let seconds = arguments.dropFirst(2).first.flatMap(Double.init) ?? 5
        let configuration = try AppConfiguration.load(environment: [
            "REDIS_URL": url, "DATABASE_URL": "postgres://unused@localhost/unused", "NANGO_SECRET_KEY": "unused",
            "JWT_SECRET": String(repeating: "x", count: 32), "TOKEN_ENCRYPTION_KEY": Data(count: 32).base64EncodedString(),
        ]).redis
        let client = RedisClient(configuration: configuration, logger: Logger(label: "bench"))
        let duration = Duration.milliseconds(Int(seconds * 1000))

        print("redis_ping_1_caller", try await rate(callers: 1, for: duration) { _ = try await client.ping() }, "ops/s")
        print("redis_ping_\(configuration.poolSize)_callers",
              try await rate(callers: configuration.poolSize, for: duration) { _ = try await client.ping() }, "ops/s")
        let batch = Array(repeating: [RedisArgument("PING")], count: 100)
        let batches = try await rate(callers: 1, for: duration) { _ = try await client.pipeline(batch) }
        print("redis_ping_pipelined_100", batches * 100, "ops/s")
        try await client.shutdown()
    }

    /// Operations per second completed by `callers` concurrent loops over `duration`.
    static func rate(callers: Int, for duration: Duration, _ operation: @escaping @Sendable () async throws -> Void) async throws -> Int {
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
        return Int(Double(total) / ((ContinuousClock.now - start) / .seconds(1)))
    }
}
