import Foundation
import MarketplaceCore
@testable import Nango
import NIOHTTP1
import AsyncHTTPClient
import NIOCore
import Testing
import TestSupport

@testable import NangoEmulator

@Suite(.timeLimit(.minutes(10))) struct NangoClientTests {
    let quickbooks = NangoRecordsQuery(connectionId: "demo-quickbooks", providerConfigKey: "quickbooks", model: "Customer", limit: 7)

    @Test func pagingToTheEndYieldsExactlyTheEmulatorsRecords() async throws {
        try await EmulatorHarness.run(records: 50) { emulator, url in
            let client = EmulatorHarness.client(url)
            let records = try await EmulatorHarness.allRecords(client, quickbooks)
            #expect(records.count == 50)
            #expect(Set(records.map(\.id)) == Set((1...50).map(String.init)))
            #expect(records.allSatisfy { $0.metadata.lastAction == .added && $0.fields["id"] == .string($0.id) })
            // Stream order: (last_modified_at, cursor uuid) ascending, so cursors strictly increase.
            let stream = try #require(await emulator.state.stream("demo-quickbooks", integration: "quickbooks", model: "Customer"))
            let expected = stream.page(.init(after: nil, modifiedAfter: nil, limit: 100, actions: nil, ids: nil)).map(\.id)
            #expect(records.map(\.id) == expected)
            // The final page has no next cursor; resuming from the last record's cursor yields nothing more.
            var resume = quickbooks
            resume.cursor = records.last?.metadata.cursor
            #expect(try await client.recordsPage(resume) == NangoRecordsPage(records: [], nextCursor: nil))
        }
    }

    @Test func modifiedAfterAndDeletesBehaveAsNangoSays() async throws {
        try await EmulatorHarness.run(records: 30) { emulator, url in
            let client = EmulatorHarness.client(url)
            let before = try await EmulatorHarness.allRecords(client, quickbooks)
            let checkpoint = try #require(before.last?.metadata.cursor)
            let start = Date()
            let applied = try #require(await emulator.state.applyChanges(
                "demo-quickbooks", integration: "quickbooks", model: "Customer", add: 3, update: 2, delete: 2))
            #expect(applied.counts == .init(added: 3, updated: 2, deleted: 2))

            // Resuming from the checkpoint yields exactly the changes, deletes as DELETED with their payload.
            var resume = quickbooks
            resume.cursor = checkpoint
            let changes = try await EmulatorHarness.allRecords(client, resume)
            #expect(changes.count == 7)
            let actions = Dictionary(grouping: changes, by: \.metadata.lastAction).mapValues(\.count)
            #expect(actions == [.added: 3, .updated: 2, .deleted: 2])
            for deleted in changes where deleted.metadata.lastAction == .deleted {
                #expect(deleted.metadata.deletedAt != nil)
                #expect(deleted.fields["display_name"] != nil || deleted.fields["company_name"] == nil)
            }

            // modified_after is inclusive and filters the same changes without a cursor.
            var since = quickbooks
            since.modifiedAfter = start.addingTimeInterval(-0.001)
            #expect(Set(try await EmulatorHarness.allRecords(client, since).map(\.id)) == Set(changes.map(\.id)))

            // Deleted records stay in the full stream, only as DELETED; the filter narrows to them.
            let all = try await EmulatorHarness.allRecords(client, quickbooks)
            #expect(all.count == 33)
            var onlyDeleted = quickbooks
            onlyDeleted.filter = [.deleted]
            #expect(try await EmulatorHarness.allRecords(client, onlyDeleted).map(\.metadata.lastAction) == [.deleted, .deleted])
        }
    }

    @Test func aBurstOf429IsAbsorbedByHonouringRetryAfter() async throws {
        try await EmulatorHarness.run { emulator, url in
            var faults = Faults()
            faults.next429 = 2
            faults.retryAfterSeconds = 1
            await emulator.state.setFaults(faults)
            let client = EmulatorHarness.client(url)
            let start = ContinuousClock.now
            let page = try await client.recordsPage(quickbooks)
            #expect(page.records.count == 7)
            #expect(ContinuousClock.now - start >= .seconds(2), "waited Retry-After twice")
        }
    }

    @Test func nangosFixedWindowRateLimitIsEnforcedWithItsHeaders() async throws {
        try await EmulatorHarness.run(rateLimit: 3) { _, url in
            // Nango's window is the wall-clock minute: four requests that straddle its end would see two windows.
            let second = Int(Date().timeIntervalSince1970) % 60
            if second >= 50 { try await Task.sleep(for: .seconds(61 - second)) }
            var request = HTTPClientRequest(url: "\(url)/connection")
            request.headers.add(name: "Authorization", value: "Bearer \(EmulatorHarness.secretKey)")
            var statuses: [UInt] = []
            var remaining: [String] = []
            for _ in 0..<4 {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                statuses.append(response.status.code)
                remaining.append(response.headers.first(name: "X-RateLimit-Remaining") ?? "-")
                if response.status.code == 429 {
                    let retryAfter = try #require(Int(response.headers.first(name: "Retry-After") ?? ""))
                    let reset = try #require(Int(response.headers.first(name: "X-RateLimit-Reset") ?? ""))
                    #expect(retryAfter >= 0 && retryAfter < 60)
                    #expect(reset % 60 == 0, "the window ends on the minute")
                    let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
                    #expect(body.contains(#""code":"too_many_request""#))
                }
            }
            #expect(statuses == [200, 200, 200, 429])
            #expect(remaining == ["2", "1", "0", "0"])
        }
    }

    /// Nango rounds `Retry-After` down (0 in a window's last second); the reset header says when the window ends.
    @Test func aRateLimitWaitsUntilTheWindowResetsAndAtLeastASecond() {
        let now = Date(timeIntervalSince1970: 1_800_000_059.4)
        var headers = HTTPHeaders([("Retry-After", "0"), ("X-RateLimit-Reset", "1800000060")])
        #expect(NangoClient.rateLimitWait(headers, now: now) == .seconds(1), "0.6 s left, but at least a second")
        headers = HTTPHeaders([("Retry-After", "41"), ("X-RateLimit-Reset", "1800000101")])
        #expect(NangoClient.rateLimitWait(headers, now: now) == .milliseconds(41_600))
        #expect(NangoClient.rateLimitWait(HTTPHeaders([("Retry-After", "7")]), now: now) == .seconds(7))
        #expect(NangoClient.rateLimitWait(HTTPHeaders([("Retry-After", "0")]), now: now) == .seconds(1))
        #expect(NangoClient.encodeQuery([("ids", "a+b c/d"), ("model", "Contact")]) == "ids=a%2Bb%20c%2Fd&model=Contact")
    }

    @Test func a429AskingTooLongIsSurfacedTyped() async throws {
        try await EmulatorHarness.run { emulator, url in
            var faults = Faults()
            faults.next429 = 1
            faults.retryAfterSeconds = 120
            await emulator.state.setFaults(faults)
            do {
                _ = try await EmulatorHarness.client(url).recordsPage(quickbooks)
                Issue.record("a 429 asking for two minutes must surface")
            } catch {
                guard case NangoError.rateLimited(let wait) = error else { Issue.record("expected rateLimited, got \(error)"); return }
                #expect(wait > .seconds(90) && wait <= .seconds(121), "\(wait)")
            }
        }
    }

    @Test func serverErrorsAreRetriedThenSurfacedTyped() async throws {
        try await EmulatorHarness.run { emulator, url in
            var faults = Faults()
            faults.next500 = 2
            await emulator.state.setFaults(faults)
            let client = EmulatorHarness.client(url) { $0.maxAttempts = 3 }
            let recovered = try await client.recordsPage(quickbooks)
            #expect(recovered.records.count == 7)

            faults.next500 = 5
            await emulator.state.setFaults(faults)
            await #expect(throws: NangoError.server(status: 500, code: "server_error", message: "An injected server error")) {
                try await client.recordsPage(quickbooks)
            }
        }
    }

    @Test func malformedAndTruncatedBodiesAreTypedDecodingErrors() async throws {
        try await EmulatorHarness.run { emulator, url in
            var faults = Faults()
            faults.truncateRate = 1
            await emulator.state.setFaults(faults)
            let client = EmulatorHarness.client(url)
            await #expect(throws: NangoError.self) { try await client.recordsPage(quickbooks) }
            do {
                _ = try await client.recordsPage(quickbooks)
            } catch let error as NangoError {
                guard case .decoding = error else { Issue.record("expected decoding, got \(error)"); return }
            }
        }
    }

    @Test func wrongOrMalformedSecretsAreTypedUnauthorized() async throws {
        try await EmulatorHarness.run { _, url in
            await #expect(throws: NangoError.unauthorized(code: "unknown_account", message: "Authentication failed. The provided secret key does not match any account.")) {
                try await EmulatorHarness.client(url, secret: UUID().uuidString).recordsPage(quickbooks)
            }
            do {
                _ = try await EmulatorHarness.client(url, secret: "not-a-uuid").connection("demo-xero", providerConfigKey: "xero")
                Issue.record("accepted a malformed key")
            } catch let error as NangoError {
                #expect(error == .unauthorized(code: "invalid_secret_key_format", message: "Authentication failed. The provided secret key is not a UUID v4."))
            }
        }
    }

    @Test func connectionsAndTheirCredentials() async throws {
        try await EmulatorHarness.run { emulator, url in
            let client = EmulatorHarness.client(url)
            let connection = try await client.connection("demo-xero", providerConfigKey: "xero")
            #expect(connection.provider == "xero" && connection.credentials?.type == "OAUTH2")
            #expect(connection.credentials?.accessToken?.isEmpty == false)
            #expect(connection.credentials?.refreshToken == nil)
            #expect(connection.credentials?.expiryDate.map { $0 > Date() } == true)
            #expect(!"\(String(describing: connection.credentials))".contains(connection.credentials!.accessToken!))

            let withRefresh = try await client.connection("demo-xero", providerConfigKey: "xero", includeRefreshToken: true)
            #expect(withRefresh.credentials?.refreshToken != nil)

            // An expired token is refreshed on read, as Nango does.
            #expect(await emulator.state.expireToken("demo-xero", integration: "xero"))
            let refreshed = try await client.connection("demo-xero", providerConfigKey: "xero")
            #expect(refreshed.credentials?.accessToken != connection.credentials?.accessToken)

            await #expect(throws: NangoError.notFound(code: "not_found", message: "No connection found")) {
                try await client.connection("nope", providerConfigKey: "xero")
            }
            #expect(try await client.connections(integrationId: "hubspot").map(\.connectionId) == ["demo-hubspot"])
            let session = try await client.createConnectSession(.init(endUser: .init(id: "u_42", email: "ann@acme.example"), allowedIntegrations: ["hubspot"]))
            #expect(session.token.hasPrefix("nango_connect_session_") && session.token.count == 22 + 64)
            #expect(session.connectLink.hasSuffix("?session_token=\(session.token)"))
            #expect(try await client.deleteConnection("demo-hubspot", providerConfigKey: "hubspot"))
            await #expect(throws: NangoError.notFound(code: "unknown_connection", message: nil)) {
                try await client.deleteConnection("demo-hubspot", providerConfigKey: "hubspot")
            }
            try await client.triggerSync(.init(syncs: ["customers"], providerConfigKey: "quickbooks", connectionId: "demo-quickbooks"))
            await #expect(throws: NangoError.self) {
                try await client.triggerSync(.init(syncs: ["nope"], providerConfigKey: "quickbooks", connectionId: "demo-quickbooks"))
            }
            let proxied = try await client.proxy(.GET, path: "/v3/company-info", connectionId: "demo-xero", providerConfigKey: "xero")
            #expect(proxied.status == 200)
        }
    }

    @Test func recordQueryValidationMatchesNango() async throws {
        try await EmulatorHarness.run { _, url in
            let client = EmulatorHarness.client(url)
            var lowercase = quickbooks
            lowercase.model = "customer"
            await #expect(throws: NangoError.self) { try await client.recordsPage(lowercase) }
            var old = quickbooks
            old.modifiedAfter = Date().addingTimeInterval(-400 * 86_400)
            do {
                _ = try await client.recordsPage(old)
                Issue.record("accepted modified_after older than 12 months")
            } catch let error as NangoError {
                guard case .badRequest(400, "invalid_query_params", _) = error else { Issue.record("\(error)"); return }
            }
            var unknown = quickbooks
            unknown.connectionId = "missing"
            await #expect(throws: NangoError.notFound(code: "unknown_connection", message: "Provided ConnectionId and ProviderConfigKey does not match a valid connection")) {
                try await client.recordsPage(unknown)
            }
        }
    }
}
