import AsyncHTTPClient
import Foundation
import Ingest
import MarketplaceCore
import Nango
import NIOCore
import NIOHTTP1
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

/// Outsiders flood the real `marketplace` process while Postgres hangs (every process of a cluster of the test's own
/// stopped with SIGSTOP) and while Redis is down: the webhook queue and the read budget answer 503 with
/// `Retry-After` at their byte bounds, the fallback cache evicts at its own, and the process's memory ends within
/// 30 MiB of its figure before the flood plus those bounds.
// The limit counts the wait for `OneAtATime` too: behind the chaos slice and the browser test that is minutes.
@Suite(.serialized, .timeLimit(.minutes(15))) struct FloodTests {
    static let mebibyte = 1 << 20
    /// Smaller than 16 senders × 129 KiB in flight: the queue must refuse some while Postgres hangs.
    static let queueBytes = 1 * mebibyte
    static let readBytes = 8 * mebibyte
    static let fallbackBytes = 4 * mebibyte

    @Test func floodsWithPostgresFrozenAndRedisDownStayWithinTheByteBounds() async throws {
        try await OneAtATime.processFaults.run { try await self.floodsWithPostgresFrozenAndRedisDownStayWithinTheByteBoundsAlone() }
    }

    func floodsWithPostgresFrozenAndRedisDownStayWithinTheByteBoundsAlone() async throws {
        let postgres = try await PostgresCluster.start()
        let redis = try await RedisProcess.start()
        let server = try await ServerProcess.start(environment: TestEnvironment.values([
            "DATABASE_URL": postgres.databaseURL,
            "REDIS_URL": "redis://127.0.0.1:\(redis.port)/0",
            "WORKER_COUNT": "0",
            "WEBHOOK_QUEUE_MAX_BYTES": "\(Self.queueBytes)",
            "WEBHOOK_READ_MAX_BYTES": "\(Self.readBytes)",
            "WEBHOOK_BODY_LIMIT": "\(Self.readBytes)",
            "CACHE_FALLBACK_MAX_BYTES": "\(Self.fallbackBytes)",
            "DB_FAST_TIMEOUT_MS": "2000",
            "REDIS_TIMEOUT_MS": "500",
            "CACHE_REDIS_TIMEOUT_MS": "250",
            "LOG_LEVEL": "error",
        ]))
        let seeded = try await Database.running(try AppConfiguration.Database.load(environment: ["DATABASE_URL": postgres.databaseURL])) { database in
            try await CompaniesAPITests.seed(database, contacts: 2_000)
        }
        let contacts = "\(server.baseURL)/api/companies/\(seeded.a)/contacts"

        // Warm up every path the floods take, so the figure before is the process at work, not at rest.
        for round in 0..<20 {
            #expect(try await Self.post(Self.webhook(number: round), to: server).status == 200)
            #expect(try await Self.get("\(contacts)?limit=\(200 + round)&include=raw", token: seeded.tokenA).status == 200)
        }
        let before = try #require(server.residentBytes)

        // Postgres hangs: every webhook is refused with 503 and Retry-After, fast, and the queue stops at its bound.
        try postgres.freeze()
        let answers = try await Self.flood(count: 160, concurrency: 16) { number in
            try await Self.post(Self.webhook(number: 1_000 + number), to: server)
        }
        try postgres.thaw()
        #expect(answers.count == 160)
        #expect(answers.allSatisfy { $0.status == 503 && $0.retryAfter != nil }, "\(Set(answers.map(\.status)))")
        #expect(answers.allSatisfy { $0.seconds < 10 }, "slowest \(answers.map(\.seconds).max() ?? 0) s")
        let refusedFull = try await Self.metric("webhook_inbox_refused_full_total", on: server)
        #expect(refusedFull > 0, "the queue reached its bound")

        // Postgres is back: webhooks are stored again without a restart, and the queue gives back its bytes.
        var recovered = false
        for number in 0..<120 where !recovered {
            recovered = try await Self.post(Self.webhook(number: 5_000 + number), to: server).status == 200
            if !recovered { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(recovered)
        // Bodies of the batches that were in Postgres when it froze are freed when those statements come back, which may
        // be just after the first new webhook is stored: the bytes return, with no promise that they are back first.
        var queued = try await Self.metric("webhook_inbox_queued_bytes", on: server)
        let drained = ContinuousClock.now + .seconds(30)
        while queued != 0, ContinuousClock.now < drained {
            try await Task.sleep(for: .milliseconds(100))
            queued = try await Self.metric("webhook_inbox_queued_bytes", on: server)
        }
        #expect(queued == 0)

        // Slow senders of large bodies: bodies are read whole before their signature is checked, so what they hold is
        // bounded by the read budget; past it, 503 with Retry-After while the others wait for the rest of their body.
        let head = "POST /webhooks/nango HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: \(2 * Self.mebibyte)\r\n\r\n"
        let halfBody = Array(head.utf8) + [UInt8](repeating: UInt8(ascii: " "), count: Self.mebibyte)
        let slow = try await withThrowingTaskGroup(of: RawClient.Exchange.self) { group in
            for _ in 0..<12 { group.addTask { try await RawClient.exchange(port: server.port, send: halfBody, timeout: 8) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let busy = slow.filter { $0.status == 503 }
        #expect(busy.count >= 4, "8 MiB of budget, 12 MiB sent: \(slow.map { $0.status ?? 0 })")
        #expect(busy.allSatisfy { $0.answer.lowercased().contains("retry-after:") })
        #expect(slow.allSatisfy { $0.status == 503 || $0.status == nil }, "the others still wait for their bodies")
        #expect(try await Self.metric("webhooks_refused_busy_total", on: server) >= Double(busy.count))
        #expect(try await Self.post(Self.webhook(number: 9_000), to: server).status == 200, "the budget is given back")

        // Redis is down: pages come from Postgres and the fallback cache, which evicts at its byte bound.
        try await redis.kill()
        let pages = try await Self.flood(count: 120, concurrency: 8) { number in
            try await Self.get("\(contacts)?limit=\(300 + number)&include=raw", token: seeded.tokenA)
        }
        #expect(pages.allSatisfy { $0.status == 200 }, "\(Set(pages.map(\.status)))")
        #expect(try await Self.metric("cache_fallback_evictions_total", on: server) > 0)
        #expect(try await Self.metric("cache_fallback_bytes", on: server) <= Double(Self.fallbackBytes))

        let after = try #require(server.residentBytes)
        print("flood: RSS \(before / Self.mebibyte) MiB before, \(after / Self.mebibyte) MiB after; \(Int(refusedFull)) webhooks refused at the queue bound")
        let allowed = before + 30 * Self.mebibyte + Self.queueBytes + Self.readBytes + Self.fallbackBytes
        #expect(after <= allowed, "RSS \(after / Self.mebibyte) MiB after, \(before / Self.mebibyte) MiB before")
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(40)) != nil, "\(server.logTail())")
    }

    struct Answer: Sendable {
        var status: Int
        var retryAfter: String?
        var seconds: Double
    }

    /// A forward webhook of about 128 KiB, unique by `number`.
    static func webhook(number: Int) -> String {
        #"{"connectionId":"flood","from":"hubspot","payload":{"n":\#(number),"filler":""# + String(repeating: "f", count: 128 << 10)
            + #""},"providerConfigKey":"hubspot","type":"forward"}"#
    }

    static func post(_ body: String, to server: ServerProcess) async throws -> Answer {
        var request = HTTPClientRequest(url: "\(server.baseURL)/webhooks/nango")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Nango-Hmac-Sha256", value: NangoWebhookSignature.hmac(body: Array(body.utf8), key: WebhookTests.key))
        request.body = .bytes(ByteBuffer(string: body))
        return try await answer(request)
    }

    static func get(_ url: String, token: String) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        return try await answer(request)
    }

    static func answer(_ request: HTTPClientRequest) async throws -> Answer {
        let start = ContinuousClock.now
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 64 << 20)
        let elapsed = ContinuousClock.now - start
        return Answer(status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"),
                      seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// `count` calls, at most `concurrency` at once; their answers in no particular order.
    static func flood(count: Int, concurrency: Int, _ call: @escaping @Sendable (Int) async throws -> Answer) async throws -> [Answer] {
        try await withThrowingTaskGroup(of: Answer.self) { group in
            var next = 0
            var answers: [Answer] = []
            while next < min(concurrency, count) {
                group.addTask { [next] in try await call(next) }
                next += 1
            }
            for try await answer in group {
                answers.append(answer)
                if next < count {
                    group.addTask { [next] in try await call(next) }
                    next += 1
                }
            }
            return answers
        }
    }

    /// The sum of a metric's samples in the server's Prometheus text.
    static func metric(_ name: String, on server: ServerProcess) async throws -> Double {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(server.baseURL)/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
        return text.split(separator: "\n").filter { line in
            line.hasPrefix(name + " ") || line.hasPrefix(name + "{")
        }.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }
}
