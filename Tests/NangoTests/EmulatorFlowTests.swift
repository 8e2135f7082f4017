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

/// Webhook receiver for flow tests: records each delivery and answers 200.
actor WebhookInbox {
    private(set) var bodies: [JSONValue] = []
    private(set) var signaturesValid: [Bool] = []

    func add(_ body: [UInt8], signature: String?) {
        bodies.append((try? JSONDecoder().decode(JSONValue.self, from: Data(body))) ?? .null)
        signaturesValid.append(signature.map {
            NangoWebhookSignature.isValid(hmacHeader: $0, body: body, key: EmulatorHarness.webhookSecret)
        } ?? false)
    }

    func wait(for count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while bodies.count < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if bodies.count < count { Issue.record("\(bodies.count) webhook(s) arrived, expected \(count)") }
    }

    static func run(_ body: @escaping @Sendable (WebhookInbox, String) async throws -> Void) async throws {
        let inbox = WebhookInbox()
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            await inbox.add(Array(bytes.readableBytesView), signature: request.headers[HTTPField.Name("X-Nango-Hmac-Sha256")!])
            return .ok
        }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { client in
            try await body(inbox, "http://127.0.0.1:\(client.port!)/hook")
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct EmulatorFlowTests {
    func post(_ url: String, json: String? = nil, form: String? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        } else if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test func connectFlowCreatesTheConnectionSendsTheAuthWebhookAndEndsLikeNango() async throws {
        try await WebhookInbox.run { inbox, hook in
            try await EmulatorHarness.run(webhookURLs: [hook]) { emulator, url in
                let session = try await EmulatorHarness.client(url).createConnectSession(
                    .init(endUser: .init(id: "u_42", email: "ann@acme.example"), allowedIntegrations: ["xero"]))
                let token = session.token
                let page = try await HTTPClient.shared.execute(
                    HTTPClientRequest(url: "\(url)/connect?session_token=\(token)"), timeout: .seconds(5))
                #expect(page.status == .ok)
                let done = try await post("\(url)/connect/complete", form: "session_token=\(token)&integration=xero&return_to=")
                #expect(done.status == 200)
                #expect(done.body.contains("nango_oauth_callback_success"))
                #expect(!done.body.contains("window.location.href"), "no redirect unless return_to is asked for")
                try await inbox.wait(for: 1)
                let webhook = try #require(await inbox.bodies.first)
                #expect(webhook["type"] == "auth" && webhook["operation"] == "creation")
                #expect(webhook["providerConfigKey"] == "xero" && webhook["success"] == true)
                #expect(webhook["tags"]?["end_user_id"] == "u_42")
                let connectionId = try #require(webhook["connectionId"]?.string)
                #expect(UUID(uuidString: connectionId) != nil)
                #expect(await emulator.state.connection(connectionId, integration: "xero") != nil)
                #expect(await inbox.signaturesValid == [true])

                // Demo convenience: return_to sends the browser on with the connection.
                let demo = try await post("\(url)/connect/complete", form: "session_token=\(token)&integration=xero&return_to=http%3A%2F%2Fapp.example%2Fcallback")
                #expect(demo.body.contains("http://app.example/callback?connection_id="))
                // A session for xero only refuses hubspot.
                #expect(try await post("\(url)/connect/complete", form: "session_token=\(token)&integration=hubspot").status == 400)
            }
        }
    }

    @Test func webhookFaultsDuplicateReorderAndBadSignature() async throws {
        try await WebhookInbox.run { inbox, hook in
            try await EmulatorHarness.run(webhookURLs: [hook]) { _, url in
                func change(_ model: String) async throws {
                    let result = try await post("\(url)/_emulator/connections/demo-hubspot/changes",
                                                json: #"{"provider_config_key":"hubspot","model":"\#(model)","add":1}"#)
                    #expect(result.status == 200)
                }
                var request = HTTPClientRequest(url: "\(url)/_emulator/faults")
                request.method = .PUT
                request.body = .bytes(ByteBuffer(string: #"{"duplicate_webhooks": true, "bad_signature_next": 1}"#))
                _ = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                try await change("Contact")
                try await inbox.wait(for: 2)
                #expect(await inbox.bodies.count == 2)
                #expect(await inbox.signaturesValid == [false, false], "the bad signature applies to both copies")

                request.body = .bytes(ByteBuffer(string: #"{"reorder_webhooks": true}"#))
                _ = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                try await change("Company")
                try await change("Product")
                try await inbox.wait(for: 4)
                let models = await inbox.bodies.suffix(2).map { $0["model"]?.string }
                #expect(models == ["Product", "Company"], "delivered out of order")
                #expect(await inbox.signaturesValid.suffix(2) == [true, true])
            }
        }
    }

    @Test func forwardWebhooksComeInBothOfNangosShapes() async throws {
        try await WebhookInbox.run { inbox, hook in
            try await EmulatorHarness.run(webhookURLs: [hook]) { _, url in
                let payload = #"[{"eventId":1,"objectId":512,"subscriptionType":"contact.propertyChange"}]"#
                _ = try await post("\(url)/_emulator/forward", json: #"{"provider_config_key":"hubspot","connection_id":"demo-hubspot","payload":\#(payload)}"#)
                _ = try await post("\(url)/_emulator/forward", json: #"{"provider_config_key":"hubspot","payload":{"raw":true}}"#)
                try await inbox.wait(for: 2)
                // Deliveries are independent: they may arrive in either order.
                let bodies = await inbox.bodies
                let wrapped = bodies.first { $0["type"] == "forward" }
                #expect(wrapped?["from"] == "hubspot")
                #expect(wrapped?["connectionId"] == "demo-hubspot")
                #expect(bodies.contains { $0["raw"] == true && $0["type"] == nil })
            }
        }
    }

    /// Nango starting a sync over: the dropped records vanish (a reader holding the last cursor is told of none, not
    /// even as DELETED), and the run's success webhook says it started from scratch; an ordinary run's carries no
    /// `checkpoints` at all.
    @Test func aRestartDropsRecordsUnseenAndItsWebhookSaysItStartedFromScratch() async throws {
        try await WebhookInbox.run { inbox, hook in
            try await EmulatorHarness.run(records: 10, webhookURLs: [hook]) { _, url in
                let client = EmulatorHarness.client(url)
                var query = NangoRecordsQuery(connectionId: "demo-xero", providerConfigKey: "xero", model: "Contact", limit: 4)
                let before = try await EmulatorHarness.allRecords(client, query)
                try #require(before.count == 10)
                let restart = try await post("\(url)/_emulator/connections/demo-xero/restart", json: #"{"provider_config_key":"xero","model":"Contact","drop":3}"#)
                #expect(restart.status == 200, "\(restart.body)")
                let dropped = Set(try JSONValue.parse(Array(restart.body.utf8))["dropped"].map { value -> [String] in
                    guard case .array(let items) = value else { return [] }
                    return items.compactMap(\.string)
                } ?? [])
                #expect(dropped.count == 3 && dropped.isSubset(of: before.map(\.id)))
                let after = try await EmulatorHarness.allRecords(client, query)
                #expect(Set(after.map(\.id)) == Set(before.map(\.id)).subtracting(dropped))
                query.cursor = before.last?.metadata.cursor
                #expect(try await EmulatorHarness.allRecords(client, query).isEmpty, "a hard delete never comes as DELETED")

                try await inbox.wait(for: 1)
                let webhook = try #require(await inbox.bodies.first)
                #expect(webhook["type"] == "sync" && webhook["success"] == true && webhook["model"] == "Contact")
                #expect(webhook["modifiedAfter"]?.string != nil)
                #expect(webhook["checkpoints"]?["from"] == .null)
                #expect(webhook["checkpoints"]?["to"]?["updated_after"]?.string != nil)

                #expect(try await post("\(url)/_emulator/connections/demo-xero/changes", json: #"{"provider_config_key":"xero","model":"Contact","add":1}"#).status == 200)
                try await inbox.wait(for: 2)
                #expect(await inbox.bodies.last?["checkpoints"] == nil)
                #expect(await inbox.signaturesValid == [true, true])
                #expect(try await post("\(url)/_emulator/connections/demo-xero/restart", json: #"{"provider_config_key":"xero","model":"Nope"}"#).status == 400)
                #expect(try await post("\(url)/_emulator/connections/nobody/restart", json: #"{"provider_config_key":"xero","model":"Contact"}"#).status == 404)
            }
        }
    }

    @Test func revokingTheGrantMakesRefreshFailWithTheAuthWebhook() async throws {
        try await WebhookInbox.run { inbox, hook in
            try await EmulatorHarness.run(webhookURLs: [hook]) { _, url in
                _ = try await post("\(url)/_emulator/connections/demo-salesforce/revoke", json: #"{"provider_config_key":"salesforce"}"#)
                // Refresh exhausted is a 424 (docs/nango.md §2.5).
                await #expect(throws: NangoError.refreshExhausted(
                    code: "invalid_credentials",
                    message: "The external API returned an error when trying to refresh the access token. Please try again later.")) {
                    try await EmulatorHarness.client(url).connection("demo-salesforce", providerConfigKey: "salesforce")
                }
                try await inbox.wait(for: 1)
                let webhook = try #require(await inbox.bodies.first)
                #expect(webhook["operation"] == "refresh" && webhook["success"] == false)
                #expect(webhook["error"]?["type"] == "refresh_token_external_error")
            }
        }
    }
}
