import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import Nango
import NIOCore
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@testable import Server

/// What an outsider can do without credentials: every unauthenticated route group that costs work has a limit,
/// slow or oversized requests cannot hold a connection, and public answers say no more than a status.
@Suite(.timeLimit(.minutes(10))) struct ExposureTests {
    @Test func everyUnauthenticatedRouteGroupAnswers429PastItsLimit() async throws {
        let limits = ["AUTH_RATE_LIMIT_REQUESTS": "3", "PUBLIC_RATE_LIMIT_REQUESTS": "3", "WEBHOOK_FAILURE_RATE_LIMIT_REQUESTS": "3"]
        try await TestApp.test(.router, limits) { client in
            // /api/auth/*: a bad request still counts (each call may cost Nango calls).
            var auth: [UInt] = []
            for _ in 0..<4 { auth.append(UInt(try await client.execute(uri: "/api/auth/oauth-url?connection_id=x", method: .get).status.code)) }
            #expect(auth == [400, 400, 400, 429])
            let refused = try await client.execute(uri: "/api/auth/exchange", method: .post, body: ByteBuffer(string: "{}"))
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] != nil)
            // /health/detailed and /openapi.json share the public group.
            var publicRoutes: [UInt] = []
            for _ in 0..<3 { publicRoutes.append(UInt(try await client.execute(uri: "/health/detailed", method: .get).status.code)) }
            publicRoutes.append(UInt(try await client.execute(uri: "/openapi.json", method: .get).status.code))
            #expect(publicRoutes == [200, 200, 200, 429])
            // Probes and Prometheus are never limited.
            for path in ["/health", "/health/live", "/health/ready", "/metrics"] {
                for _ in 0..<8 { #expect(try await client.execute(uri: path, method: .get).status != .tooManyRequests, "\(path)") }
            }
            // Webhooks: only deliveries that fail verification count; a signed one always goes through.
            let body = WebhookTests.syncBody
            var forged = WebhookTests.headers(body)
            forged[.nangoHmac] = String(repeating: "0", count: 64)
            var webhooks: [UInt] = []
            for _ in 0..<4 {
                webhooks.append(UInt(try await client.execute(uri: "/webhooks/nango", method: .post, headers: forged, body: ByteBuffer(string: body)).status.code))
            }
            #expect(webhooks == [401, 401, 401, 429])
            let signed = try await client.execute(uri: "/webhooks/nango", method: .post, headers: WebhookTests.headers(body), body: ByteBuffer(string: body))
            #expect(signed.status == .ok || signed.status == .serviceUnavailable, "never 429: \(signed.status)")
            #expect(signed.status != .tooManyRequests)
        }
    }

    /// The public `/health/detailed` keeps statuses; error texts and file paths need the admin token.
    @Test func publicHealthSaysNoMoreThanAStatus() async throws {
        try await TestApp.test(.router, ["REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_TIMEOUT_MS": "200"]) { client in
            let anonymous = try TestApp.json(try await client.execute(uri: "/health/detailed", method: .get).body)
            let redis = try #require((anonymous["checks"] as? [String: Any])?["redis"] as? [String: Any])
            #expect(redis["status"] as? String == "down")
            #expect(redis["error"] == nil, "no error text for strangers")
            let file = (anonymous["pipelines"] as? [String: Any])?["file"] as? String
            #expect(file == nil || file == "", "no file path for strangers")
            let admin = try TestApp.json(try await client.execute(
                uri: "/health/detailed", method: .get, headers: [.adminToken: "test-admin-token-0123456789"]).body)
            let adminRedis = try #require((admin["checks"] as? [String: Any])?["redis"] as? [String: Any])
            #expect(adminRedis["error"] as? String != nil)
        }
    }

    /// A client that sends a whole 12 MiB body before reading gets its 413; one that stalls mid-head is cut off. Two
    /// servers: with a short idle timeout, a loaded machine that paused the handler for seconds cut the upload off
    /// before its 413 (the server had stopped reading meanwhile). The bounds are generous for the same reason: what is
    /// tested is that an answer or a close comes, not how fast.
    @Test func oversizedAndStalledRequestsCannotHoldAConnection() async throws {
        try await TestApp.test(.live) { client in
            let port = try #require(client.port)
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: 12 << 20)
            let head = "POST /api/auth/exchange HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
            let oversized = try await RawClient.exchange(port: port, send: Array(head.utf8) + body, timeout: 60)
            #expect(oversized.answer.hasPrefix("HTTP/1.1 413"), "\(oversized.answer.prefix(80))")
            #expect(oversized.seconds < 60)
        }
        try await TestApp.test(.live, ["HTTP_IDLE_TIMEOUT": "2"]) { client in
            let port = try #require(client.port)
            // A head that never ends: closed after the idle timeout, long before the client would give up.
            let stalled = try await RawClient.exchange(port: port, send: Array("GET /health HTTP/1.1\r\nHost: test\r\n".utf8), timeout: 60)
            #expect(stalled.answer.isEmpty, "no answer, the connection closed")
            #expect(stalled.closed)
            #expect(stalled.seconds < 60)
        }
    }
}
