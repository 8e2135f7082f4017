import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import Nango
import Testing
import TestSupport

@testable import NangoEmulator

@Suite(.timeLimit(.minutes(10))) struct WebhookSignatureTests {
    // Nango's own unit-test vectors and the worked example of docs/nango.md §1.2, computed independently of this code.
    @Test func signaturesMatchNangosVectors() {
        let body = Array("payload".utf8)
        #expect(NangoWebhookSignature.hmac(body: body, key: "secret") == "b82fcb791acec57859b989b430a826488ce2e479fdf92326bd0a2e8375a42ba4")
        #expect(NangoWebhookSignature.legacy(body: body, key: "secret") == "22439a879b090cd05e5b51c5b5d7e4a205830e6ab4f54b90f5a822b7c7110934")
        let example = Array(#"{"connectionId":"user-123","from":"nango","model":"Customer","modifiedAfter":"2026-05-01T10:00:00.000Z","providerConfigKey":"quickbooks","queryTimeStamp":"2026-05-01T10:00:00.000Z","responseResults":{"added":2,"deleted":0,"updated":1},"success":true,"syncName":"customers","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#.utf8)
        let key = "00000000-0000-4000-8000-000000000000"
        #expect(NangoWebhookSignature.hmac(body: example, key: key) == "01af99683c5f2b5d1616bdc4ecfbd49f8819e8707e765307579bf74f02e198fa")
        #expect(NangoWebhookSignature.legacy(body: example, key: key) == "c8a42bf9eb833c11d672c3fbfbd9aaa3dd012ccefa669df26dd2b57ef096b3d9")
        #expect(NangoWebhookSignature.isValid(hmacHeader: "01AF99683C5F2B5D1616BDC4ECFBD49F8819E8707E765307579BF74F02E198FA", body: example, key: key))
        #expect(!NangoWebhookSignature.isValid(hmacHeader: "01af99683c5f2b5d1616bdc4ecfbd49f8819e8707e765307579bf74f02e198fb", body: example, key: key))
        #expect(!NangoWebhookSignature.isValid(hmacHeader: "zz", body: example, key: key))
        #expect(NangoWebhookSignature.isValid(legacyHeader: "c8a42bf9eb833c11d672c3fbfbd9aaa3dd012ccefa669df26dd2b57ef096b3d9", body: example, key: key))
    }

    @Test func bodiesAreSerialisedLikeNangos() throws {
        let payload: JSONValueAlias = ["type": "sync", "from": "nango", "url": "https://x.example/a", "responseResults": ["updated": 1, "added": 2]]
        let bytes = try NangoWebhookBody.serialize(payload)
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"from":"nango","responseResults":{"added":2,"updated":1},"type":"sync","url":"https://x.example/a"}"#)
    }

    /// The emulator posts signed webhooks; a receiver here checks every header against its own computation.
    @Test func deliveredWebhooksCarryNangosHeadersAndSignatures() async throws {
        let received = ReceivedWebhooks()
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 20)
            await received.add(headers: request.headers, body: Array(body.readableBytesView))
            return await received.count == 1 ? .internalServerError : .ok   // the first attempt fails: Nango retries
        }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { receiver in
            try await EmulatorHarness.run(webhookURLs: ["http://127.0.0.1:\(receiver.port!)/hook"]) { emulator, _ in
                _ = await emulator.state.applyChanges("demo-xero", integration: "xero", model: "Contact", add: 1, update: 0, delete: 0)
                let connection = try #require(await emulator.state.connection("demo-xero", integration: "xero"))
                await emulator.webhooks.send(WebhookPayloads.syncSuccess(
                    connection, model: "Contact", syncName: "contacts", counts: .init(added: 1), runStart: .now, firstRun: true))
                let deadline = ContinuousClock.now + .seconds(30)
                while await received.count < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                let deliveries = await received.all
                #expect(deliveries.count == 2, "one failed attempt, one retry")
                let (headers, body) = try #require(deliveries.last)
                #expect(deliveries.first?.1 == body, "a retry resends the same bytes")
                let key = EmulatorHarness.webhookSecret
                #expect(headers[HTTPField.Name("X-Nango-Hmac-Sha256")!] == NangoWebhookSignature.hmac(body: body, key: key))
                #expect(headers[HTTPField.Name("X-Nango-Signature")!] == NangoWebhookSignature.legacy(body: body, key: key))
                #expect(headers[.contentType] == "application/json")
                #expect(headers[.userAgent]?.hasPrefix("nango/") == true)
                let json = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
                #expect(json?["type"] as? String == "sync")
                #expect((json?["responseResults"] as? [String: Int]) == ["added": 1, "updated": 0, "deleted": 0])
                // The sender records an attempt once the answer is back, a moment after the receiver saw it.
                for _ in 0..<200 where emulator.webhooks.deliveries.last?.outcome == "pending" {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(emulator.webhooks.deliveries.last?.attempts == [500, 200])
                #expect(emulator.webhooks.deliveries.last?.outcome == "delivered")
            }
        }
    }
}

typealias JSONValueAlias = MarketplaceCore.JSONValue

actor ReceivedWebhooks {
    private(set) var all: [(HTTPFields, [UInt8])] = []
    var count: Int { all.count }
    func add(headers: HTTPFields, body: [UInt8]) { all.append((headers, body)) }
}
