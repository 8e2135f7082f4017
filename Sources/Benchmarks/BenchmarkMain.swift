import Tokens
import Foundation
import Ingest
import JWTKit
import Logging
import MarketplaceCore
import Nango
import Redis

/// `marketplace-bench`: in-process scenarios for `make bench`, printed as `name value unit` lines that
/// scripts/bench.sh puts beside ceilings measured with the standard tools in the same run.
@main
enum BenchmarkMain {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch (arguments.first, arguments.count) {
        case ("redis", 2...): try await redis(url: arguments[1], seconds: arguments.count > 2 ? Double(arguments[2]) ?? 5 : 5)
        case ("webhooks", 4...): try webhooks(count: Int(arguments[1]) ?? 100_000, key: arguments[2], output: arguments[3])
        case ("nango", 3...): try await nango(baseURL: arguments[1], secretKey: arguments[2], limit: arguments.count > 3 ? Int(arguments[3]) ?? 1000 : 1000)
        case ("token", 2...):
            // An admin-scoped API token for the read scenarios, signed as the server signs its own.
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: arguments[1]), digestAlgorithm: .sha256)
            print(try await keys.sign(APIClaims(subject: "bench", expiresAt: Date().addingTimeInterval(3600), companyId: nil, scope: "admin")))
        default:
            FileHandle.standardError.write(Data("usage: marketplace-bench redis REDIS_URL [seconds] | nango BASE_URL SECRET_KEY [page size] | webhooks COUNT SIGNING_KEY FILE | token JWT_SECRET\n".utf8))
            exit(64)
        }
    }

    /// Writes COUNT distinct, signed sync webhooks as `hmac<TAB>body` lines for the wrk script to post.
    static func webhooks(count: Int, key: String, output: String) throws {
        var text = ""
        text.reserveCapacity(count * 420)
        for index in 0..<count {
            let body = #"{"connectionId":"bench-\#(index % 500)","from":"nango","model":"Customer","modifiedAfter":"2026-05-01T10:00:00.000Z","providerConfigKey":"quickbooks","queryTimeStamp":"2026-05-01T10:00:00.000Z","responseResults":{"added":\#(index),"deleted":0,"updated":1},"success":true,"syncName":"customers","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#
            text += NangoWebhookSignature.hmac(body: Array(body.utf8), key: key) + "\t" + body + "\n"
        }
        try text.write(toFile: output, atomically: true, encoding: .utf8)
    }

    /// Pages every Customer record of the emulator's demo QuickBooks connection through `NangoClient`.
    static func nango(baseURL: String, secretKey: String, limit: Int) async throws {
        let client = NangoClient(configuration: .init(baseURL: baseURL, secretKey: Secret(secretKey)), logger: Logger(label: "bench"))
        let query = NangoRecordsQuery(connectionId: "demo-quickbooks", providerConfigKey: "quickbooks", model: "Customer", limit: limit)
        let start = ContinuousClock.now
        var records = 0
        var pages = 0
        for try await page in client.records(query) {
            records += page.records.count
            pages += 1
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        print("nango_records", records, "records")
        print("nango_pages", pages, "pages")
        print("nango_records_per_second", Int(Double(records) / seconds), "records/s")
    }

    static func redis(url: String, seconds: Double) async throws {
        let configuration = try AppConfiguration.load(environment: [
            "REDIS_URL": url, "DATABASE_URL": "postgres://unused@localhost/unused", "NANGO_SECRET_KEY": "unused", "NANGO_WEBHOOK_SECRET": "unused",
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
