import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import MarketplaceCore
import NIOCore
import NIOHTTP1
import PostgresNIO
import Prometheus
import Storage
import Testing
import TestSupport

@testable import Server

/// Outbound webhooks end to end: the whole product (emulator as Nango, the app's workers, dispatcher and delivery) and
/// a receiver that verifies every message with PyPI's `standardwebhooks` and `svix` (Tests/Outbound/receiver.py).
@Suite(.serialized, .timeLimit(.minutes(10))) struct OutboundWebhookTests {
    /// Every receiver here is on loopback over http; retries a second apart, ten of them.
    static let settings = [
        "OUTBOUND_ALLOW_HTTP": "true", "OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true", "OUTBOUND_RETRY_SCHEDULE": "0s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
        "OUTBOUND_TIMEOUT": "2",
    ]

    static func withReceiver(_ overrides: [String: String] = [:], _ body: @escaping @Sendable (PipelineStack, WebhookReceiver) async throws -> Void) async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await PipelineStack.with(settings.merging(overrides) { $1 }) { stack in try await body(stack, receiver) }
    }

    /// Registers an endpoint for `name` at the receiver, which then holds its secret.
    static func endpoint(_ stack: PipelineStack, _ receiver: WebhookReceiver, _ name: String, extra: String = "") async throws -> (id: String, secret: String) {
        let created = try await stack.admin(.POST, "/api/admin/webhook-endpoints", json: #"{"url": "\#(receiver.url(name))"\#(extra)}"#)
        #expect(created.status == 201, "\(created.body)")
        let id = try #require(created.body["id"]?.string), secret = try #require(created.body["secret"]?.string)
        #expect(created.body["status"]?.string == "enabled")
        try await receiver.configure(name, secrets: [secret])
        return (id, secret)
    }

    static func pending(_ stack: PipelineStack, _ endpoint: String) async throws -> Int {
        try await stack.int("SELECT count(*)::int FROM webhook_messages WHERE endpoint_id = '\(endpoint)' AND status = 'pending'")
    }

    static func elements(_ value: JSONValue?) -> [JSONValue] {
        guard case .array(let items)? = value else { return [] }
        return items
    }

    /// Every message verifies with both libraries; every change of the company arrives in a `*.changed` message, each
    /// stream's messages chained cursor to cursor in the order they arrived; the lifecycle and test messages too.
    @Test func everyChangeArrivesSignedAndEachStreamChains() async throws {
        try await Self.withReceiver { stack, receiver in
            let endpoint = try await Self.endpoint(stack, receiver, "all")
            let company = try await stack.connect("hubspot", "out", models: 3)
            let test = try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/test", json: "{}")
            #expect(test.status == 202)
            let changeIds = Set(try await stack.sql("SELECT seq::text FROM changes WHERE company_id = '\(company)'").map { try $0.decode(String.self) })
            #expect(changeIds.count > 60)
            try await stack.eventually("every change delivered") {
                let messages = try await receiver.received("all")
                let carried = Set(messages.flatMap { Self.elements($0.json["data"]?["changes"]) }.compactMap { $0["id"]?.string })
                return carried.isSuperset(of: changeIds) && messages.contains { $0.type == "webhook.test" }
                    && messages.contains { $0.type == "connection.created" }
            }
            let received = try await receiver.received("all")
            #expect(received.allSatisfy { $0.standard && $0.svix && $0.answered == 200 }, "every message verified by both libraries")
            #expect(received.allSatisfy { $0.signatures == 1 })
            // Each (company, resource) stream, in arrival order: one message's cursor_to is the next one's cursor_from.
            var last: [String: String] = [:]
            var chained = 0
            for message in received where message.type?.hasSuffix(".changed") == true {
                let data = message.json["data"]
                let stream = "\(data?["company_id"]?.string ?? "")/\(data?["resource"]?.string ?? "")"
                if let previous = last[stream] {
                    #expect(data?["cursor_from"]?.string == previous, "\(stream) chains")
                    chained += 1
                }
                last[stream] = data?["cursor_to"]?.string
                #expect(Self.elements(data?["changes"]).count <= 100)
            }
            #expect(chained > 3)
            #expect(received.first { $0.type == "connection.created" }?.json["data"]?["company_id"]?.string == company)
            // The admin views: the secret masked, messages delivered, one attempt each with its answer.
            let listed = try await stack.admin(.GET, "/api/admin/webhook-endpoints/\(endpoint.id)")
            let shown = try JSONValue.parse(Array(listed.body.utf8))
            #expect(shown["secret"]?.string == "whsec_…" + endpoint.secret.suffix(4))
            let delivered = try JSONValue.parse(Array(try await stack.admin(.GET, "/api/admin/webhook-endpoints/\(endpoint.id)/messages?status=delivered").body.utf8))
            let one = try #require(Self.elements(delivered["data"]).first?["id"]?.string)
            let attempts = try JSONValue.parse(Array(try await stack.admin(.GET, "/api/admin/webhook-messages/\(one)/attempts").body.utf8))
            #expect(Self.elements(attempts["data"]).count == 1)
            #expect(Self.elements(attempts["data"]).first?["status_code"] == .number(200))
            #expect(Self.elements(attempts["data"]).first?["response_excerpt"]?.string == "ok")
        }
    }

    /// A receiver that is down, then back: everything arrives, and a message tried again keeps its `webhook-id`.
    @Test func aReceiverDownThenBackGetsEverythingUnderTheSameIds() async throws {
        try await Self.withReceiver { stack, receiver in
            let endpoint = try await Self.endpoint(stack, receiver, "flaky")
            try await receiver.configure("flaky", mode: "down")
            _ = try await stack.connect("xero", "flaky-co", models: 2)
            try await stack.eventually("messages tried more than once") {
                let ids = try await receiver.received("flaky").compactMap(\.id)
                return ids.count > Set(ids).count
            }
            try await receiver.configure("flaky", mode: "ok")
            try await stack.eventually("all delivered") { try await Self.pending(stack, endpoint.id) == 0 }
            let received = try await receiver.received("flaky")
            let stored = Set(try await stack.sql("SELECT message_id FROM webhook_messages WHERE endpoint_id = '\(endpoint.id)'").map { try $0.decode(String.self) })
            #expect(Set(received.filter { $0.answered == 200 }.compactMap(\.id)) == stored, "every message delivered, under the id it was first sent with")
            #expect(received.filter { $0.answered == 503 }.allSatisfy { stored.contains($0.id ?? "") })
            #expect(try await stack.int("SELECT count(*)::int FROM webhook_messages WHERE endpoint_id = '\(endpoint.id)' AND status = 'failed'") == 0)
        }
    }

    /// 410 disables the endpoint at once; its messages are kept; enabled again, `recover` sends them.
    @Test func goneDisablesTheEndpointAndRecoverSendsItsMessages() async throws {
        try await Self.withReceiver { stack, receiver in
            let started = Date().addingTimeInterval(-60)
            let endpoint = try await Self.endpoint(stack, receiver, "gone")
            try await receiver.configure("gone", mode: "gone")
            _ = try await stack.connect("xero", "gone-co", models: 2)
            try await stack.eventually("disabled") {
                try await stack.int("SELECT count(*)::int FROM webhook_endpoints WHERE id = '\(endpoint.id)' AND status = 'disabled'") == 1
            }
            let shown = try JSONValue.parse(Array(try await stack.admin(.GET, "/api/admin/webhook-endpoints/\(endpoint.id)").body.utf8))
            #expect(shown["status"]?.string == "disabled")
            #expect(shown["disabled_reason"]?.string?.contains("410") == true)
            try await stack.eventually("no message pending") { try await Self.pending(stack, endpoint.id) == 0 }
            // Every change has its message (a disabled endpoint's are stored failed, for `recover`): the dispatcher has
            // read past the last change.
            try await stack.eventually("the dispatcher past the last change") {
                try await stack.int("SELECT count(*)::int FROM changes c, outbound_dispatch d WHERE (c.xid, c.seq) > (d.xid, d.seq)") == 0
            }
            let kept = try await stack.int("SELECT count(*)::int FROM webhook_messages WHERE endpoint_id = '\(endpoint.id)' AND status = 'failed'")
            #expect(kept > 0)
            // Requests already in flight when the 410 came may still arrive; nothing is sent after them.
            let sent = try await receiver.received("gone")
            #expect(sent.count <= 8 && sent.allSatisfy { $0.answered == 410 }, "\(sent.count) sent to a disabled endpoint")

            try await receiver.configure("gone", mode: "ok")
            #expect(try await stack.admin(.PATCH, "/api/admin/webhook-endpoints/\(endpoint.id)", json: #"{"status": "enabled"}"#).status == 200)
            let since = ISO8601DateFormatter().string(from: started)
            let recovered = try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/recover", json: #"{"since": "\#(since)"}"#)
            #expect(recovered.status == 202)
            #expect(recovered.body["recovered"] == .number(Double(kept)))
            try await stack.eventually("recovered and delivered") { try await Self.pending(stack, endpoint.id) == 0 }
            #expect(try await stack.int("SELECT count(*)::int FROM webhook_messages WHERE endpoint_id = '\(endpoint.id)' AND status = 'delivered'") == kept)
        }
    }

    /// A 429 with `Retry-After: 3` is not tried again before three seconds, though the schedule says one.
    @Test func retryAfterIsHonoured() async throws {
        try await Self.withReceiver { stack, receiver in
            let endpoint = try await Self.endpoint(stack, receiver, "slow", extra: #", "event_types": ["webhook.test"]"#)
            try await receiver.configure("slow", mode: "retry_after", retryAfter: 3)
            #expect(try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/test", json: "{}").status == 202)
            try await stack.eventually("the first attempt") { try await receiver.received("slow").count == 1 }
            try await receiver.configure("slow", mode: "ok")
            try await stack.eventually("delivered") { try await Self.pending(stack, endpoint.id) == 0 }
            let attempts = try await receiver.received("slow")
            try #require(attempts.count == 2)
            #expect(attempts[0].answered == 429 && attempts[1].answered == 200)
            #expect(attempts[1].id == attempts[0].id)
            #expect(attempts[1].received_at - attempts[0].received_at >= 2.9, "waited for Retry-After")
        }
    }

    /// After a rotation every message carries both signatures: a receiver holding either secret verifies it.
    @Test func duringARotationEitherSecretVerifies() async throws {
        try await Self.withReceiver { stack, receiver in
            let endpoint = try await Self.endpoint(stack, receiver, "rotate", extra: #", "event_types": ["webhook.test"]"#)
            let rotated = try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/rotate-secret", json: "{}")
            #expect(rotated.status == 200)
            let new = try #require(rotated.body["secret"]?.string)
            #expect(new != endpoint.secret && new.hasPrefix("whsec_"))
            for (index, secret) in [endpoint.secret, new].enumerated() {
                try await receiver.configure("rotate", secrets: [secret])
                #expect(try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/test", json: "{}").status == 202)
                try await stack.eventually("test \(index) delivered") { try await receiver.received("rotate").count == index + 1 }
            }
            let received = try await receiver.received("rotate")
            #expect(received.allSatisfy { $0.standard && $0.svix && $0.answered == 200 && $0.signatures == 2 })
        }
    }

    /// One endpoint that never answers (each attempt times out) and one that does: the second gets all its messages
    /// while the first still has its own waiting.
    @Test func aHangingEndpointDoesNotDelayAnother() async throws {
        try await Self.withReceiver { stack, receiver in
            let hanging = try await Self.endpoint(stack, receiver, "hang")
            let healthy = try await Self.endpoint(stack, receiver, "fine")
            try await receiver.configure("hang", mode: "hang")
            _ = try await stack.connect("hubspot", "iso", models: 3)
            try await stack.eventually("the healthy endpoint has everything") {
                let made = try await stack.int("SELECT count(*)::int FROM webhook_messages WHERE endpoint_id = '\(healthy.id)'")
                let waiting = try await Self.pending(stack, healthy.id)
                return made > 10 && waiting == 0
            }
            #expect(try await Self.pending(stack, hanging.id) > 0, "the hanging endpoint's messages still wait")
            #expect(try await receiver.received("fine").allSatisfy { $0.answered == 200 })
        }
    }

    /// An endpoint that keeps failing past `OUTBOUND_DISABLE_AFTER` without a success is disabled, its messages kept.
    @Test func anEndpointFailingTooLongIsDisabled() async throws {
        try await Self.withReceiver(["OUTBOUND_DISABLE_AFTER": "2"]) { stack, receiver in
            let endpoint = try await Self.endpoint(stack, receiver, "failing", extra: #", "event_types": ["webhook.test"]"#)
            try await receiver.configure("failing", mode: "down")
            #expect(try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/test", json: "{}").status == 202)
            try await stack.eventually("disabled") {
                try await stack.int("SELECT count(*)::int FROM webhook_endpoints WHERE id = '\(endpoint.id)' AND status = 'disabled'") == 1
            }
            let shown = try JSONValue.parse(Array(try await stack.admin(.GET, "/api/admin/webhook-endpoints/\(endpoint.id)").body.utf8))
            #expect(shown["disabled_reason"]?.string == "no success for 2 seconds")
            #expect(try await stack.int("SELECT count(*)::int FROM webhook_messages WHERE endpoint_id = '\(endpoint.id)' AND status = 'failed'") == 1)
            #expect(try await receiver.received("failing").count >= 3, "tried until the endpoint had failed for 2 s")
        }
    }

    /// A connection's life and a dead sync are told, each once, to an endpoint that asked for them.
    @Test func connectionLifeAndDeadSyncsAreTold() async throws {
        try await Self.withReceiver { stack, receiver in
            _ = try await Self.endpoint(stack, receiver, "life", extra: #", "event_types": ["connection.created", "connection.refresh_failed", "connection.recovered", "connection.disconnected", "sync.failed"]"#)
            let company = try await stack.connect("xero", "life-co", models: 2)
            _ = try await stack.sql("UPDATE companies SET status = 'refresh_failed', status_reason = 'test' WHERE id = '\(company)'")
            _ = try await stack.sql("UPDATE companies SET status = 'active', status_reason = NULL WHERE id = '\(company)'")
            _ = try await stack.sql("UPDATE companies SET last_synced_at = now() WHERE id = '\(company)'")
            _ = try await stack.sql("UPDATE companies SET status = 'disconnected', status_reason = 'test' WHERE id = '\(company)'")
            // Due in an hour, so no worker claims it before the test marks it dead (a worker that did held it running).
            _ = try await stack.sql("""
                INSERT INTO jobs (kind, payload, status, attempts, max_attempts, last_error, run_at)
                VALUES ('sync.run', '{"integration_id": "xero", "connection_id": "life-co", "model": "Contact"}', 'failed', 2, 2, 'boom',
                        now() + interval '1 hour')
                """)
            _ = try await stack.sql("UPDATE jobs SET status = 'dead' WHERE last_error = 'boom'")
            let expected = ["connection.created", "connection.refresh_failed", "connection.recovered", "connection.disconnected", "sync.failed"]
            try await stack.eventually("every event told") { try await receiver.received("life").count >= expected.count }
            let received = try await receiver.received("life")
            #expect(received.compactMap(\.type) == expected)
            #expect(received.allSatisfy { $0.standard && $0.svix && $0.json["data"]?["company_id"]?.string == company })
            #expect(received[4].json["data"]?["model"]?.string == "Contact")
            #expect(received[4].json["data"]?["last_error"]?.string == "boom")
        }
    }

    /// A message that keeps failing holds the ones after it in its stream back until its first retry, no longer: the
    /// next is delivered while the first still waits for its later attempts. And a redirect is an answer, not followed.
    @Test func aFailingMessageHoldsItsStreamOnlyUntilItsFirstRetryAndRedirectsAreNotFollowed() async throws {
        try await Self.withReceiver { stack, receiver in
            let endpoint = try await Self.endpoint(stack, receiver, "order", extra: #", "event_types": ["webhook.test"]"#)
            // Two messages of one stream made while the endpoint is disabled (kept as failed), then sent in order by
            // recover, the receiver refusing the first every time.
            #expect(try await stack.admin(.PATCH, "/api/admin/webhook-endpoints/\(endpoint.id)", json: #"{"status": "disabled"}"#).status == 200)
            let first = try #require(try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/test", json: "{}").body["message_id"]?.string)
            let second = try #require(try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/test", json: "{}").body["message_id"]?.string)
            try await receiver.configure("order", failIds: [first])
            #expect(try await stack.admin(.PATCH, "/api/admin/webhook-endpoints/\(endpoint.id)", json: #"{"status": "enabled"}"#).status == 200)
            let recovered = try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/recover", json: #"{"since": "2020-01-01T00:00:00Z"}"#)
            #expect(recovered.body["recovered"] == .number(2))
            try await stack.eventually("the second delivered") {
                try await receiver.received("order").contains { $0.id == second && $0.answered == 200 }
            }
            let received = try await receiver.received("order")
            let firstAttempts = received.enumerated().filter { $0.element.id == first }.map(\.offset)
            let secondArrival = try #require(received.firstIndex { $0.id == second })
            #expect(firstAttempts.count >= 2 && firstAttempts[1] < secondArrival, "held back until the first message's first retry")
            #expect(try await stack.int("SELECT count(*)::int FROM webhook_messages WHERE message_id = '\(first)' AND status = 'pending'") == 1,
                    "the first still waits for its later attempts")

            try await receiver.configure("order", mode: "redirect", failIds: [])
            let redirected = try #require(try await stack.admin(.POST, "/api/admin/webhook-endpoints/\(endpoint.id)/test", json: "{}").body["message_id"]?.string)
            try await stack.eventually("tried twice") { try await receiver.received("order").filter { $0.id == redirected }.count >= 2 }
            #expect(try await receiver.received("order-elsewhere").isEmpty, "the redirect was not followed")
            // The receiver sees an attempt before the server has recorded its answer.
            try await stack.eventually("both redirects recorded as answers") {
                try await stack.int("SELECT count(*)::int FROM webhook_attempts a JOIN webhook_messages m ON m.id = a.message_id WHERE m.message_id = '\(redirected)' AND a.status_code = 307") >= 2
            }
            // The deliveries are counted on /metrics.
            var bytes: [UInt8] = []
            stack.dependencies.metricsRegistry.emit(into: &bytes)
            let metrics = String(decoding: bytes, as: UTF8.self)
            #expect(metrics.contains(#"outbound_deliveries_total{outcome="delivered"}"#))
            #expect(metrics.contains(#"outbound_deliveries_total{outcome="retry"}"#))
            #expect(metrics.contains("outbound_delivery_seconds_bucket"))
        }
    }

    /// URLs and fields that cannot be an endpoint are refused, naming the field.
    @Test func badEndpointsAreRefusedNamingTheField() async throws {
        try await TestApp.test(.router) { client in
            let admin: HTTPFields = [.init("X-Admin-Token")!: TestEnvironment.values()["ADMIN_TOKEN"]!, .contentType: "application/json"]
            for (body, field) in [(#"{"url": "http://example.com/hook"}"#, "url"), (#"{"url": "https://127.0.0.1/hook"}"#, "url"),
                                  (#"{"url": "https://localhost:8443/hook"}"#, "url"), (#"{"url": "ftp://example.com/"}"#, "url"),
                                  (#"{}"#, "url"), (#"{"url": "https://93.184.216.34/h", "event_types": ["nope"]}"#, "event_types"),
                                  (#"{"url": "https://93.184.216.34/h", "rate_limit": 0}"#, "rate_limit"),
                                  (#"{"url": "https://93.184.216.34/h", "company_id": "\#(UUID())"}"#, "company_id")] {
                let answer = try await client.execute(uri: "/api/admin/webhook-endpoints", method: .post, headers: admin, body: ByteBuffer(string: body))
                #expect(answer.status == .badRequest, "\(body)")
                #expect(String(buffer: answer.body).contains("'\(field)'"), "\(body): \(String(buffer: answer.body))")
            }
            #expect(try await client.execute(uri: "/api/admin/webhook-endpoints/\(UUID())", method: .get, headers: admin).status == .notFound)
            #expect(try await client.execute(uri: "/api/admin/webhook-messages/msg_none/attempts", method: .get, headers: admin).status == .notFound)
        }
    }
}
