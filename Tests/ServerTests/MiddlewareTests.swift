import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

@testable import Server

@Suite(.timeLimit(.minutes(10))) struct MiddlewareTests {
    @Test func requestIDIsEchoedGeneratedOrReplaced() async throws {
        try await TestApp.test { client in
            try await client.execute(uri: "/health", method: .get, headers: [.xRequestID: "req-42.abc"]) { response in
                #expect(response.headers[.xRequestID] == "req-42.abc")
            }
            let generated = try await client.execute(uri: "/health", method: .get).headers[.xRequestID]
            #expect(generated?.count ?? 0 >= 16)
            let other = try await client.execute(uri: "/health", method: .get).headers[.xRequestID]
            #expect(generated != other)
            let unsafe = String(repeating: "x", count: 200)
            try await client.execute(uri: "/health", method: .get, headers: [.xRequestID: unsafe]) { response in
                #expect(response.headers[.xRequestID] != unsafe)
                #expect(response.headers[.xRequestID]?.isEmpty == false)
            }
        }
    }

    @Test(arguments: [TestingSetup.router, .live])
    func unknownRoutesAnswerTheErrorShape(_ setup: TestingSetup) async throws {
        try await TestApp.test(setup) { client in
            try await client.execute(uri: "/no/such/route", method: .get, headers: [.xRequestID: "trace-404"]) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let error = try TestApp.json(response.body)["error"] as? [String: String]
                #expect(error == ["code": "not_found", "message": "no such resource", "request_id": "trace-404"])
            }
        }
    }

    @Test(arguments: [TestingSetup.router, .live])
    func oversizedBodiesAre413InTheErrorShape(_ setup: TestingSetup) async throws {
        try await TestApp.test(setup, ["REQUEST_BODY_LIMIT": "2048"]) { client in
            let body = ByteBuffer(repeating: UInt8(ascii: "a"), count: 4096)
            try await client.execute(uri: "/webhooks/anything", method: .post, body: body) { response in
                #expect(response.status == .contentTooLarge)
                let error = try TestApp.json(response.body)["error"] as? [String: String]
                #expect(error?["code"] == "payload_too_large")
                #expect(error?["request_id"]?.isEmpty == false)
            }
        }
    }

    @Test func chunkedBodiesAreCutOffAtTheLimit() async throws {
        let chunks = AsyncStream<ByteBuffer> { continuation in
            for _ in 0..<10 { continuation.yield(ByteBuffer(repeating: 0, count: 300)) }
            continuation.finish()
        }
        var received = 0
        await #expect(throws: APIError.payloadTooLarge(limit: 1000)) {
            for try await chunk in SizeLimitedBody(base: chunks, limit: 1000) { received += chunk.readableBytes }
        }
        #expect(received <= 1000)
    }

    @Test func securityHeadersAreOnEveryResponse() async throws {
        try await TestApp.test { client in
            for path in ["/health", "/missing"] {
                try await client.execute(uri: path, method: .get) { response in
                    for (name, value) in SecurityHeaders.list {
                        #expect(response.headers[name] == value, "\(name) on \(path)")
                    }
                }
            }
        }
    }

    @Test func metricsAreValidPrometheusText() async throws {
        try await TestApp.test { client in
            _ = try await client.execute(uri: "/health", method: .get)
            _ = try await client.execute(uri: "/health", method: .get)   // the same counter, made once, counts both
            _ = try await client.execute(uri: "/nowhere", method: .get)
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                let sample = try Regex(#"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? [-+0-9.eEInfa]+$"#)
                for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                    #expect(line.wholeMatch(of: sample) != nil, "not a Prometheus sample: \(line)")
                }
                #expect(text.contains(#"http_requests_total{method="GET",route="/health",status="200"} 2"#))
                #expect(text.contains(#"status="404""#))
                #expect(text.contains("http_request_duration_seconds_bucket"))
                #expect(text.contains("db_pool_connections_max 8"))
                #expect(text.contains("redis_up 1"))
                // The standard process metrics, from /proc/self.
                #expect(text.contains("# TYPE process_cpu_seconds_total counter"))
                for name in ["process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"] {
                    let value = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
                    #expect((value ?? 0) > 0, "\(name) is read")
                }
                let start = text.split(separator: "\n").first { $0.hasPrefix("process_start_time_seconds ") }
                    .flatMap { Double($0.split(separator: " ")[1]) } ?? 0
                #expect(abs(start - Date().timeIntervalSince1970) < 24 * 3600, "the test process started today")
            }
        }
    }
}
