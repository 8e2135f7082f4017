import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import Nango
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

@testable import NangoEmulator

/// The emulator where real deployments part from the common path (docs/nango.md §5): every URL, the circuit breaker,
/// auth webhook bytes, `end_user` in the API's shape, 424, `{}` credentials, pruned and hard-deleted records.
@Suite(.timeLimit(.minutes(10))) struct EmulatorFidelityTests {
    static func control(_ baseURL: String, _ path: String, _ body: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: "\(baseURL)/_emulator\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        #expect(response.status.code < 300, "\(path): \(String(buffer: bytes))")
        return try JSONValue.parse(bytes.readableBytesView)
    }

    @Test func everyWebhookGoesToEveryURL() async throws {
        try await WebhookInbox.run { first, firstURL in
            try await WebhookInbox.run { second, secondURL in
                try await EmulatorHarness.run(webhookURLs: [firstURL, secondURL]) { _, url in
                    _ = try await Self.control(url, "/connections", #"{"provider_config_key": "xero", "connection_id": "both"}"#)
                    try await first.wait(for: 1)
                    try await second.wait(for: 1)
                    #expect(await first.bodies == second.bodies, "the same webhook at both URLs, not a fallback")
                }
            }
        }
    }

    /// Auth webhooks carry `tags: {}` for a connection without tags; failure webhooks carry no `endUser`.
    @Test func authWebhookBytesAreNangos() async throws {
        try await WebhookInbox.run { inbox, hook in
            try await EmulatorHarness.run(webhookURLs: [hook]) { _, url in
                _ = try await Self.control(url, "/connections", #"{"provider_config_key": "xero", "connection_id": "plain", "end_user": {"endUserId": "u1", "endUserEmail": "u1@example.com", "tags": {}}}"#)
                _ = try await Self.control(url, "/connections/plain/revoke", #"{"provider_config_key": "xero"}"#)
                try await inbox.wait(for: 2)
                let bodies = await inbox.bodies
                try #require(bodies.count == 2)
                // Deliveries run concurrently, as Nango's do: find each by its operation, not its arrival.
                let creation = try #require(bodies.first { $0["operation"]?.string == "creation" })
                let refresh = try #require(bodies.first { $0["operation"]?.string == "refresh" })
                #expect(creation["tags"] == .object([:]))
                #expect(creation["endUser"]?["endUserId"]?.string == "u1")
                #expect(refresh["success"] == .bool(false))
                #expect(refresh["endUser"] == nil, "a failure webhook has no endUser")
                #expect(refresh["tags"] == .object([:]))
            }
        }
    }

    @Test func connectionsAnswerInTheAPIsShape() async throws {
        try await EmulatorHarness.run { emulator, url in
            _ = try await Self.control(url, "/connections", #"{"provider_config_key": "xero", "connection_id": "eu", "end_user": {"endUserId": "u1", "endUserEmail": "u1@example.com", "tags": {"plan": "pro"}}}"#)
            let client = EmulatorHarness.client(url)
            let connection = try await client.connection("eu", providerConfigKey: "xero")
            #expect(connection.endUser == .object([
                "id": "u1", "display_name": .null, "email": "u1@example.com", "tags": ["plan": "pro"], "organization": .null,
            ]))
            // A key without the read-credentials scope: `credentials: {}`.
            var faults = Faults()
            faults.scopedKey = true
            await emulator.state.setFaults(faults)
            #expect(try await client.connection("eu", providerConfigKey: "xero").credentials == nil)
            await emulator.state.setFaults(Faults())
            // Refresh exhausted: 424.
            _ = try await Self.control(url, "/connections/eu/revoke", #"{"provider_config_key": "xero"}"#)
            do {
                _ = try await client.connection("eu", providerConfigKey: "xero")
                Issue.record("a revoked grant must not refresh")
            } catch {
                guard case NangoError.refreshExhausted(let code, _) = error else { Issue.record("expected 424, got \(error)"); return }
                #expect(code == "invalid_credentials")
            }
        }
    }

    /// `POST /connect/sessions/reconnect`: the Connect UI re-authorises the same connection (creation time kept) and
    /// the auth webhook says `override`; an unknown connection is Nango's 400.
    @Test func aReconnectSessionOverridesTheSameConnection() async throws {
        try await WebhookInbox.run { inbox, hook in
            try await EmulatorHarness.run(webhookURLs: [hook]) { _, url in
                _ = try await Self.control(url, "/connections", #"{"provider_config_key": "xero", "connection_id": "again"}"#)
                let client = EmulatorHarness.client(url)
                let before = try await client.connection("again", providerConfigKey: "xero")
                do {
                    _ = try await client.createReconnectSession(.init(connectionId: "nobody", integrationId: "xero"))
                    Issue.record("an unknown connection has no reconnect session")
                } catch {
                    guard case NangoError.badRequest(let status, let code, _) = error else { Issue.record("expected 400, got \(error)"); return }
                    #expect(status == 400 && code == "invalid_body")
                }
                let session = try await client.createReconnectSession(.init(connectionId: "again", integrationId: "xero"))
                #expect(session.token.hasPrefix("nango_connect_session_"))
                try await Task.sleep(for: .milliseconds(10))
                var form = HTTPClientRequest(url: "\(url)/connect/complete")
                form.method = .POST
                form.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                form.body = .bytes(ByteBuffer(string: "session_token=\(session.token)&integration=xero"))
                let page = String(buffer: try await HTTPClient.shared.execute(form, timeout: .seconds(5)).body.collect(upTo: 1 << 16))
                #expect(page.contains(#"data-connection-id="again""#))
                let after = try await client.connection("again", providerConfigKey: "xero")
                #expect(after.createdAt == before.createdAt)
                #expect(after.updatedAt != before.updatedAt)
                #expect(try await client.connections(integrationId: "xero").filter { $0.connectionId == "again" }.count == 1)
                try await inbox.wait(for: 2)
                #expect(await inbox.bodies.contains { $0["operation"]?.string == "override" && $0["connectionId"]?.string == "again" })
            }
        }
    }

    @Test func anEmptyPageSaysNextCursorNull() async throws {
        try await EmulatorHarness.run(records: 0) { _, url in
            var request = HTTPClientRequest(url: "\(url)/records?model=Contact")
            request.headers.add(name: "Authorization", value: "Bearer \(EmulatorHarness.secretKey)")
            request.headers.add(name: "Connection-Id", value: "demo-xero")
            request.headers.add(name: "Provider-Config-Key", value: "xero")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            // Always present, null on the last page; keys in the order of Nango's own fixture (docs/nango.md §4).
            #expect(String(buffer: try await response.body.collect(upTo: 1 << 16)) == #"{"next_cursor":null,"records":[]}"#)
        }
    }

    /// Pruned records keep their place and action with only `id`; hard-deleted ones vanish, never DELETED.
    @Test func prunedAndHardDeletedRecordsAreServedAsNangoServesThem() async throws {
        try await EmulatorHarness.run(records: 10) { _, url in
            let client = EmulatorHarness.client(url)
            let query = NangoRecordsQuery(connectionId: "demo-xero", providerConfigKey: "xero", model: "Contact", limit: 4)
            let before = try await EmulatorHarness.allRecords(client, query)
            try #require(before.count == 10)
            let removed = try await Self.control(url, "/connections/demo-xero/hard-delete", #"{"provider_config_key": "xero", "model": "Contact", "ids": ["\#(before[2].id)", "\#(before[7].id)"]}"#)
            #expect(removed["deleted"] == .array([.string(before[2].id), .string(before[7].id)]))
            let pruned = try await Self.control(url, "/connections/demo-xero/prune", #"{"provider_config_key": "xero", "model": "Contact"}"#)
            #expect(pruned["pruned"] == .number(8))
            let after = try await EmulatorHarness.allRecords(client, query)
            try #require(after.count == 8)
            #expect(after.map(\.id) == before.map(\.id).filter { $0 != before[2].id && $0 != before[7].id })
            #expect(after.allSatisfy { $0.isPruned && $0.fields == ["id": .string($0.id)] })
            #expect(after.allSatisfy { $0.metadata.lastAction == .added }, "pruning moves neither the action nor the position")
            #expect(zip(after, before.filter { $0.id != before[2].id && $0.id != before[7].id }).allSatisfy { $0.metadata.cursor == $1.metadata.cursor })
        }
    }

    @Test func fiveFailedDeliveriesOpenTheCircuitBreaker() async throws {
        // A receiver that answers 500 to everything: each webhook fails after its retries.
        let router = Router()
        router.post("/hook") { _, _ -> HTTPResponse.Status in .internalServerError }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { failing in
        try await EmulatorHarness.run(webhookURLs: ["http://127.0.0.1:\(failing.port!)/hook"]) { emulator, url in
            for index in 0..<5 {
                _ = try await Self.control(url, "/connections", #"{"provider_config_key": "xero", "connection_id": "cb-\#(index)"}"#)
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while !emulator.webhooks.circuitOpen, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(emulator.webhooks.circuitOpen)
            let outcomes = emulator.webhooks.deliveries.map(\.outcome)
            #expect(outcomes.filter { $0 == "dropped" }.count == 5)
            _ = try await Self.control(url, "/connections", #"{"provider_config_key": "xero", "connection_id": "cb-late"}"#)
            while emulator.webhooks.deliveries.last?.outcome == "pending", ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(emulator.webhooks.deliveries.last?.outcome == "dropped_circuit_open")
            #expect(emulator.webhooks.deliveries.last?.attempts == [], "dropped without an attempt")
        }
        }
    }
}
