import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import Nango
import NIOCore
import Testing
import TestSupport

@testable import Server

/// Nango's own test fixtures (docs/nango.md §4), byte for byte with their signatures, through intake and the parsers.
@Suite(.timeLimit(.minutes(10))) struct NangoFixtureTests {
    static let vectorKey = "00000000-0000-4000-8000-000000000000"

    struct Vector: Sendable {
        let name: String
        let body: String
        let hmac: String
        let legacy: String
        let type: String
        let job: String
    }

    static let vectors: [Vector] = [
        Vector(name: "auth creation with tags",
               body: #"{"authMode":"OAUTH2","connectionId":"1","environment":"dev","from":"nango","operation":"creation","provider":"hubspot","providerConfigKey":"providerkey","success":true,"tags":{"department":"engineering","priority":"high"},"type":"auth"}"#,
               hmac: "af1ae07cbfeb4cf9a20117346fab33c2f9bab2b7b3c1c2a568f0faecc2e7b278",
               legacy: "108e245dcde8425b7aacf62329d9a171b04d685ee934596a23647e2474ff8a68", type: "auth", job: "connection.upsert"),
        Vector(name: "sync success",
               body: #"{"connectionId":"1","from":"nango","model":"model","modifiedAfter":"2026-05-01T10:00:00.000Z","providerConfigKey":"providerkey","queryTimeStamp":"2026-05-01T10:00:00.000Z","responseResults":{"added":10,"deleted":0,"updated":0},"success":true,"syncName":"a_sync","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#,
               hmac: "4c8d54b8bf7fb08f08dfe7e12e4a5e774ea9ee9edef33ed1bdc71110632a425a",
               legacy: "d2955e0dbafac7287a7b06234438fadc2ccdeaccccdd27b5f83ba4b8e1f19d2c", type: "sync", job: "sync.run"),
        Vector(name: "sync failure",
               body: #"{"connectionId":"1","error":{"description":"error description","type":"error"},"failedAt":"2026-05-01T10:00:07.412Z","from":"nango","model":"model","providerConfigKey":"providerkey","startedAt":"2026-05-01T10:00:00.000Z","success":false,"syncName":"a_sync","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#,
               hmac: "15b8e6be25a8e0f43c1a4ec08d5d4e4aac13d45f925425fc3b1b3e7777348837",
               legacy: "13946335d93f837eb9a52c4223609cd390f5fc10da3b33adb4f6cb0a058c09af", type: "sync", job: ""),
        Vector(name: "forward (matched)",
               body: #"{"connectionId":"1","from":"hubspot","payload":{"some":"data"},"providerConfigKey":"hubspot","type":"forward"}"#,
               hmac: "e522778d643ef4325c7f367193554bd41f90c89b63db3b60cce9fb8af7937c49",
               legacy: "abc17747d89fa78e59a7240fdaa1d57e4922b9b84c0e56ea462fd0111fb24c5f", type: "forward", job: "forward.received"),
        Vector(name: "async action",
               body: #"{"connectionId":"123","from":"nango","payload":{"id":"00000000-0000-0000-0000-000000000000","statusUrl":"/action/00000000-0000-0000-0000-000000000000"},"providerConfigKey":"some-provider","type":"async_action"}"#,
               hmac: "0b542bfa0fab9ed0e1db117cd6f127827cd3ab98c9cff0a1acb5312d1062e0f7",
               legacy: "99aa87204b2073f268b1f6d1f52dcff4b3b6846a95732587a8418e0fbf879598", type: "async_action", job: ""),
        // The unmatched forward of the same event: the raw provider body (signatures computed with Python's hmac/hashlib).
        Vector(name: "forward (unmatched)", body: #"{"some":"data"}"#,
               hmac: "b05b31732c18000298c9cd404f9f91f4f4c735a060c1a9563d6e582e483e3c65",
               legacy: "a5414648d15873e13247fefda04fd87d60ea183e90989c34a9d8bb9fd435df6a", type: "forward", job: "forward.received"),
    ]

    static func headers(hmac: String?, legacy: String?) -> HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json"]
        if let hmac { fields[.nangoHmac] = hmac }
        if let legacy { fields[.nangoSignature] = legacy }
        return fields
    }

    @Test func signaturesAreNangosOwn() {
        for vector in Self.vectors {
            let body = Array(vector.body.utf8)
            #expect(NangoWebhookSignature.hmac(body: body, key: Self.vectorKey) == vector.hmac, "\(vector.name)")
            #expect(NangoWebhookSignature.legacy(body: body, key: Self.vectorKey) == vector.legacy, "\(vector.name)")
        }
    }

    @Test func everyFixtureIsStoredWithItsTypeAndJob() async throws {
        try await WebhookTests.withApp(["NANGO_WEBHOOK_SECRET": Self.vectorKey]) { client, count in
            for vector in Self.vectors {
                try await client.execute(
                    uri: "/webhooks/nango", method: .post, headers: Self.headers(hmac: vector.hmac, legacy: vector.legacy),
                    body: ByteBuffer(string: vector.body)
                ) { response in
                    #expect(response.status == .ok, "\(vector.name)")
                    #expect(String(buffer: response.body) == #"{"status":"stored"}"#, "\(vector.name)")
                }
                let stored = try await count("webhook_events WHERE raw_body = '\(vector.body)' AND type = '\(vector.type)'")
                #expect(stored == 1, "\(vector.name)")
            }
            #expect(try await count("webhook_events") == 6)
            #expect(try await count("jobs WHERE kind = 'connection.upsert'") == 1)
            #expect(try await count("jobs WHERE kind = 'sync.run' AND concurrency_key = 'sync:providerkey:1:model'") == 1)
            #expect(try await count("jobs WHERE kind = 'forward.received'") == 2)
            #expect(try await count("jobs") == 4)
            #expect(try await count("sync_state WHERE nango_sync_status = 'failure' AND last_error = 'error description'") == 1)
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(!text.contains("webhooks_unknown_type_total"))
                #expect(text.contains(#"webhook_signatures_valid_total{scheme="hmac-sha256",key="current"} 6"#))
            }
        }
    }

    /// Nango signs with the old key for up to five minutes after a rotation (docs/nango.md §1.2).
    @Test func duringARotationThePreviousKeyIsAcceptedAndCounted() async throws {
        let vector = Self.vectors[1]
        let headers = Self.headers(hmac: vector.hmac, legacy: nil)
        try await WebhookTests.withApp(["NANGO_WEBHOOK_SECRET": "a-new-signing-key"]) { client, count in
            let status = try await client.execute(uri: "/webhooks/nango", method: .post, headers: headers, body: ByteBuffer(string: vector.body)).status
            #expect(status == .unauthorized)
            #expect(try await count("webhook_events") == 0)
        }
        try await WebhookTests.withApp(["NANGO_WEBHOOK_SECRET": "a-new-signing-key", "NANGO_WEBHOOK_SECRET_PREVIOUS": Self.vectorKey]) { client, count in
            let status = try await client.execute(uri: "/webhooks/nango", method: .post, headers: headers, body: ByteBuffer(string: vector.body)).status
            #expect(status == .ok)
            let current = #"{"some":"new"}"#
            let signed = Self.headers(hmac: NangoWebhookSignature.hmac(body: Array(current.utf8), key: "a-new-signing-key"), legacy: nil)
            let second = try await client.execute(uri: "/webhooks/nango", method: .post, headers: signed, body: ByteBuffer(string: current)).status
            #expect(second == .ok)
            #expect(try await count("webhook_events") == 2)
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"webhook_signatures_valid_total{scheme="hmac-sha256",key="previous"} 1"#))
                #expect(text.contains(#"webhook_signatures_valid_total{scheme="hmac-sha256",key="current"} 1"#))
            }
        }
    }

    /// A raw provider body can carry its own `type`: it is an unmatched forward, not an unknown Nango type.
    @Test func aRawProviderBodyWithItsOwnTypeIsAnUnmatchedForward() async throws {
        try await WebhookTests.withApp { client, count in
            let bodies = [
                #"{"event":{"type":"message","text":"hi"},"team_id":"T1","type":"event_callback"}"#,
                #"{"data":{"object":{"id":"in_1"}},"id":"evt_1","object":"event","type":"invoice.paid"}"#,
                #"{"from":"stripe","type":"charge.succeeded"}"#,
            ]
            for body in bodies {
                let status = try await client.execute(uri: "/webhooks/nango", method: .post, headers: WebhookTests.headers(body), body: ByteBuffer(string: body)).status
                #expect(status == .ok, "\(body)")
            }
            #expect(try await count("webhook_events WHERE type = 'forward' AND connection_id IS NULL") == 3)
            #expect(try await count("jobs WHERE kind = 'forward.received'") == 3)
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(!String(buffer: response.body).contains("webhooks_unknown_type_total"))
            }
        }
    }

    /// Webhooks have their own body limit, above the API's; every 413 is counted and logged (Nango never resends it).
    @Test func webhooksHaveTheirOwnBodyLimitAndEvery413IsCounted() async throws {
        try await WebhookTests.withApp(["REQUEST_BODY_LIMIT": "1024", "WEBHOOK_BODY_LIMIT": "8192"]) { client, count in
            let fits = #"{"connectionId":"c","from":"hubspot","payload":""# + String(repeating: "x", count: 4000) + #"","providerConfigKey":"hubspot-eu","type":"forward"}"#
            let fitsStatus = try await client.execute(uri: "/webhooks/nango", method: .post, headers: WebhookTests.headers(fits), body: ByteBuffer(string: fits)).status
            #expect(fitsStatus == .ok, "over the API's limit, under the webhooks' own")
            let big = #"{"connectionId":"c","from":"hubspot","payload":""# + String(repeating: "x", count: 9000) + #"","providerConfigKey":"hubspot-eu","type":"forward"}"#
            try await client.execute(uri: "/webhooks/nango", method: .post, headers: WebhookTests.headers(big), body: ByteBuffer(string: big)) { response in
                #expect(response.status == .contentTooLarge)
                let error = try TestApp.json(response.body)["error"] as? [String: String]
                #expect(error?["code"] == "payload_too_large")
            }
            #expect(try await count("webhook_events") == 1)
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("webhooks_too_large_total 1"))
            }
            // The API keeps its own, smaller limit.
            let apiStatus = try await client.execute(
                uri: "/api/auth/exchange", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: String(repeating: " ", count: 2000) + "{}")).status
            #expect(apiStatus == .contentTooLarge)
        }
    }

    @Test func anOversizedBodyNamesTheIntegrationItClaims() {
        #expect(OversizedWebhook.claimedIntegration(in: Array(#"xxxx","providerConfigKey":"hubspot-eu","type":"forward"}"#.utf8)) == "hubspot-eu")
        #expect(OversizedWebhook.claimedIntegration(in: Array(#"xxxx"}"#.utf8)) == nil)
        #expect(OversizedWebhook.claimedIntegration(in: Array(#""providerConfigKey":"a b<script>""#.utf8)) == nil)
    }

    /// docs/nango.md §4's records page, as Express sends it.
    @Test func nangosRecordsPageParses() throws {
        let page = #"{"next_cursor":"MjAyNi0wNS0wMVQxMDowMDowMy4xMjAzOTErMDA6MDB8fGUyYWJmZDA5LTMxNWMtNWNlNC1hMGIwLTE4NDMxNzA4OTkzOA==","records":[{"id":"record2","foo":"bar","_nango_metadata":{"first_seen_at":"2026-05-01T10:00:03.120391+00:00","last_modified_at":"2026-05-01T10:00:03.120391+00:00","last_action":"ADDED","deleted_at":null,"pruned_at":null,"cursor":"MjAyNi0wNS0wMVQxMDowMDowMy4xMjAzOTErMDA6MDB8fGEyMzg4YjBhLTc4YTAtNTI3Mi04NWM1LTM4YjA2YzhiOTU1NQ=="}},{"id":"record1","foo":"bar","_nango_metadata":{"first_seen_at":"2026-05-01T10:00:03.120391+00:00","last_modified_at":"2026-05-01T10:00:03.120391+00:00","last_action":"ADDED","deleted_at":null,"pruned_at":null,"cursor":"MjAyNi0wNS0wMVQxMDowMDowMy4xMjAzOTErMDA6MDB8fGUyYWJmZDA5LTMxNWMtNWNlNC1hMGIwLTE4NDMxNzA4OTkzOA=="}}]}"#
        let parsed = try NangoRecordsPage.parse(Array(page.utf8))
        #expect(parsed.nextCursor == "MjAyNi0wNS0wMVQxMDowMDowMy4xMjAzOTErMDA6MDB8fGUyYWJmZDA5LTMxNWMtNWNlNC1hMGIwLTE4NDMxNzA4OTkzOA==")
        try #require(parsed.records.count == 2)
        #expect(parsed.records.map(\.id) == ["record2", "record1"])
        #expect(parsed.records[0].fields == ["id": .string("record2"), "foo": .string("bar")])
        #expect(parsed.records[0].metadata.lastAction == .added)
        #expect(parsed.records[0].metadata.prunedAt == nil)
        #expect(parsed.records[1].metadata.cursor == parsed.nextCursor)
    }

    /// docs/nango.md §4's connection: an API-key integration, `end_user` in the API's shape.
    @Test func nangosConnectionDecodes() throws {
        let body = #"{"id":1,"connection_id":"k3j9x2a","provider_config_key":"algolia","provider":"algolia","errors":[],"end_user":{"id":"V1StGXR8_Z5jdHi6B-myT","display_name":null,"email":"V1StGXR8_Z5jdHi6B-myT@example.com","tags":{"origin":"test"},"organization":{"id":"Uakgb_J5m9g-0JDMbcJqL","display_name":null}},"tags":{},"metadata":null,"connection_config":{"APP_ID":"TEST"},"webhook_url_override":null,"created_at":"2026-05-01T09:58:01.120+00:00","updated_at":"2026-05-01T09:58:01.120+00:00","last_fetched_at":"2026-05-01T10:58:02.449+00:00","credentials":{"type":"API_KEY","apiKey":"test_api_key"}}"#
        let connection = try JSONDecoder().decode(NangoConnection.self, from: Data(body.utf8))
        #expect(connection.connectionId == "k3j9x2a")
        #expect(connection.providerConfigKey == "algolia")
        #expect(connection.credentials?.type == "API_KEY")
        #expect(connection.credentials?.apiKey == "test_api_key")
        #expect(connection.endUser?["email"]?.string == "V1StGXR8_Z5jdHi6B-myT@example.com")
        #expect(connection.tags == [:])
        // A key without the read-credentials scope gets `{}` (docs/nango.md §2.5).
        let scoped = body.replacingOccurrences(of: #""credentials":{"type":"API_KEY","apiKey":"test_api_key"}"#, with: #""credentials":{}"#)
        #expect(try JSONDecoder().decode(NangoConnection.self, from: Data(scoped.utf8)).credentials == nil)
    }
}
