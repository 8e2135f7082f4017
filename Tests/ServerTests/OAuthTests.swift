import Tokens
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingest
import Logging
import MarketplaceCore
import NIOCore
import NIOHTTP1
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import NangoEmulator
@testable import Server

/// The OAuth endpoints end to end: a live emulator as Nango, the real app, a database of the test's own.
@Suite(.timeLimit(.minutes(10))) struct OAuthTests {
    static let nangoKey = "6f1c3a52-5a0e-4b43-9a55-2b8e0d4c1e77"

    static func withStack(
        _ overrides: [String: String] = [:],
        _ body: @escaping @Sendable (any TestClientProtocol, Emulator, String, @escaping @Sendable (String) async throws -> [PostgresRow]) async throws -> Void
    ) async throws {
        let emulator = Emulator(
            options: .init(secretKey: nangoKey, webhookSecret: "whsec-test", webhookURLs: [], seed: 1, recordsPerModel: 5,
                           webhookRetryScale: 0.01, environment: "dev", publicURL: "http://127.0.0.1"),
            logger: TestEnvironment.logger)
        await emulator.createDemoConnections()
        try await emulator.application(host: "127.0.0.1", port: 0).test(.live) { nango in
            let nangoURL = "http://127.0.0.1:\(nango.port!)"
            try await TestDatabase.with { database in
                try await Database.running(database) { client in
                    _ = try await Migrator(migrations: try Migration.bundled()).migrate(client, logger: TestEnvironment.logger)
                    var values = overrides
                    values["NANGO_BASE_URL"] = nangoURL
                    values["NANGO_SECRET_KEY"] = nangoKey
                    let app = buildApplication(try await TestApp.dependencies(values, database: database), port: 0, migrateOnStart: false, backgroundJobs: false)
                    try await app.test(.router) { api in
                        try await body(api, emulator, nangoURL) { sql in
                            try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger)
                        }
                    }
                }
            }
        }
    }

    static let jwtSecret = "test-jwt-secret-that-is-long-enough-0123456789"
    static let adminToken: HTTPFields = [.adminToken: "test-admin-token-0123456789"]

    struct Started {
        let state: String
        let nonce: String
        let cookie: String
        let sessionToken: String
    }

    /// `oauth-url` as a browser calls it: the state, the nonce and the cookie it sets.
    static func start(_ api: any TestClientProtocol, _ integration: String = "xero", headers: HTTPFields = [:]) async throws -> Started {
        let response = try await api.execute(uri: "/api/auth/oauth-url?integration_id=\(integration)&connection_id=acme-42", method: .get, headers: headers)
        #expect(response.status == .ok)
        let json = try TestApp.json(response.body)
        let cookie = try #require(response.headers[.setCookie])
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/api/auth"))
        let value = try #require(cookie.split(separator: ";").first.map(String.init))
        return Started(state: try #require(json["state"] as? String), nonce: try #require(json["browser_nonce"] as? String),
                       cookie: value, sessionToken: try #require(json["connect_session_token"] as? String))
    }

    /// The user completes the emulator's Connect UI with the session: Nango creates the connection.
    static func completeConnectUI(_ nangoURL: String, session: String, integration: String = "xero") async throws -> String {
        var form = HTTPClientRequest(url: "\(nangoURL)/connect/complete")
        form.method = .POST
        form.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        form.body = .bytes(ByteBuffer(string: "session_token=\(session)&integration=\(integration)"))
        let page = String(buffer: try await HTTPClient.shared.execute(form, timeout: .seconds(5)).body.collect(upTo: 1 << 16))
        return try #require(page.firstMatch(of: /data-connection-id="([^"]+)"/).map { String($0.1) })
    }

    static func exchange(_ api: any TestClientProtocol, _ body: String, headers: HTTPFields = [:]) async throws -> (HTTPResponse.Status, [String: Any]) {
        var fields = headers
        fields[.contentType] = "application/json"
        let response = try await api.execute(uri: "/api/auth/exchange", method: .post, headers: fields, body: ByteBuffer(string: body))
        return (response.status, try TestApp.json(response.body))
    }

    static func errorCode(_ json: [String: Any]) -> String? { (json["error"] as? [String: String])?["code"] }

    static func escaped(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }

    @Test func theConnectFlowEndsWithATokenForTheBrowserThatStartedIt() async throws {
        try await Self.withStack { api, emulator, nangoURL, sql in
            let started = try await Self.start(api)
            let connectionId = try await Self.completeConnectUI(nangoURL, session: started.sessionToken)
            // The browser comes back with its cookie.
            let callback = try await api.execute(
                uri: "/api/auth/callback?state=\(Self.escaped(started.state))&connection_id=\(connectionId)", method: .get,
                headers: [.cookie: started.cookie])
            #expect(callback.status == .ok)
            let answer = try TestApp.json(callback.body)
            let company = try #require(answer["company"] as? [String: Any])
            #expect(company["connection_id"] as? String == connectionId)
            #expect(company["integration_id"] as? String == "xero" && company["status"] as? String == "active")
            #expect((answer["token"] as? String)?.split(separator: ".").count == 3)
            #expect(String(describing: answer).contains("access_token") == false)
            // The token reads the company it was issued for.
            let token = try #require(answer["token"] as? String)
            let companyId = try #require(company["id"] as? String)
            #expect(try await api.execute(uri: "/api/companies/\(companyId)", method: .get, headers: [.authorization: "Bearer \(token)"]).status == .ok)

            // The stored bytes never contain the token; they open to it with the key.
            let nangoConnection = try #require(await emulator.state.connection(connectionId, integration: "xero"))
            let rows = try await sql("SELECT access_token_sealed, refresh_token_sealed FROM connection_credentials")
            #expect(rows.count == 1)
            let (access, refresh) = try rows[0].decode((ByteBuffer, ByteBuffer?).self)
            let sealed = Array(access.readableBytesView)
            #expect(!String(decoding: sealed, as: UTF8.self).contains(nangoConnection.accessToken))
            #expect(sealed.count == nangoConnection.accessToken.utf8.count + 28, "nonce + ciphertext + tag")
            let cipher = try CredentialCipher(base64Key: Data(repeating: 7, count: 32).base64EncodedString())
            #expect(try cipher.open(sealed) == nangoConnection.accessToken)
            #expect(try cipher.open(Array(try #require(refresh).readableBytesView)) == nangoConnection.refreshToken)

            // A front end that finishes the flow itself: exchange with the nonce, no cookie.
            let second = try await Self.start(api)
            let secondConnection = try await Self.completeConnectUI(nangoURL, session: second.sessionToken)
            let (status, exchanged) = try await Self.exchange(
                api, #"{"connection_id":"\#(secondConnection)","state":"\#(second.state)","nonce":"\#(second.nonce)"}"#)
            #expect(status == .ok)
            #expect((exchanged["company"] as? [String: Any])?["connection_id"] as? String == secondConnection)
        }
    }

    /// Knowing a connection id is worth nothing: without this browser's flow no token, and the same answer whether
    /// the connection exists or not.
    @Test func aStrangerWhoKnowsAConnectionIdGetsNoTokenAndLearnsNothing() async throws {
        try await Self.withStack { api, _, nangoURL, sql in
            // No state at all: refused before Nango is asked.
            for connection in ["demo-xero", "nobody-at-all"] {
                let (status, json) = try await Self.exchange(api, #"{"connection_id":"\#(connection)","integration_id":"xero"}"#)
                #expect(status == .badRequest && Self.errorCode(json) == "invalid_state", "\(connection)")
                let callback = try await api.execute(uri: "/api/auth/callback?connection_id=\(connection)", method: .get)
                let code = Self.errorCode(try TestApp.json(callback.body))
                #expect(callback.status == .badRequest && code == "invalid_state")
            }
            // The stranger's own genuine flow, pointed at someone else's connection: one answer, existing or not.
            let own = try await Self.start(api)
            var answers: [String] = []
            for connection in ["demo-xero", "nobody-at-all"] {
                let (status, json) = try await Self.exchange(
                    api, #"{"connection_id":"\#(connection)","state":"\#(own.state)","nonce":"\#(own.nonce)"}"#)
                #expect(status == .forbidden)
                answers.append("\(status.code) \(Self.errorCode(json) ?? "") \((json["error"] as? [String: String])?["message"] ?? "")")
            }
            #expect(answers[0] == answers[1], "the answer does not tell whether the connection exists")
            #expect(answers[0].contains("connection_not_verified"))
            // A connection of the stranger's own flow, but claimed with another browser's state: refused.
            let victim = try await Self.start(api)
            let stolen = try await Self.completeConnectUI(nangoURL, session: victim.sessionToken)
            let (wrongBrowser, json) = try await Self.exchange(
                api, #"{"connection_id":"\#(stolen)","state":"\#(victim.state)","nonce":"\#(own.nonce)"}"#)
            #expect(wrongBrowser == .badRequest && Self.errorCode(json) == "invalid_state")
            let callback = try await api.execute(
                uri: "/api/auth/callback?state=\(Self.escaped(victim.state))&connection_id=\(stolen)", method: .get, headers: [.cookie: own.cookie])
            #expect(callback.status == .badRequest)
            #expect(try await sql("SELECT 1 FROM companies").isEmpty, "nothing stored for any of them")
        }
    }

    /// A state issued after the connection existed (30 s of skew allowed) proves nothing about it.
    @Test func aStateIssuedBeforeTheConnectionExistedIsRequiredForAToken() async throws {
        try await Self.withStack { api, emulator, _, _ in
            // The demo connection carries end user `demo-user` and was made when the emulator started: the states are
            // dated from its creation time (a loaded machine may take longer than the skew to get here).
            let browser = "a-browser-secret"
            let created = try #require(await emulator.state.connection("demo-xero", integration: "xero")).createdAt
            let connectionCreated = Date(timeIntervalSince1970: Double(created.micros) / 1_000_000)
            func state(issuedAfterConnection seconds: TimeInterval) throws -> String {
                try OAuthState(integrationId: "xero", endUserId: "demo-user", issuedAt: connectionCreated.addingTimeInterval(seconds),
                               expiresAt: Date().addingTimeInterval(600), browserSecret: browser).signed(secret: Self.jwtSecret)
            }
            let late = try state(issuedAfterConnection: 120)
            let (refused, json) = try await Self.exchange(api, #"{"connection_id":"demo-xero","state":"\#(late)","nonce":"\#(browser)"}"#)
            #expect(refused == .forbidden && Self.errorCode(json) == "connection_not_verified")
            // The same state issued within the skew of the connection's creation passes: the check is the time.
            let timely = try state(issuedAfterConnection: 10)
            let (accepted, _) = try await Self.exchange(api, #"{"connection_id":"demo-xero","state":"\#(timely)","nonce":"\#(browser)"}"#)
            #expect(accepted == .ok)
        }
    }

    @Test func aTamperedOrExpiredStateIs400AndStoresNothing() async throws {
        try await Self.withStack { api, _, _, sql in
            let forged = try OAuthState(integrationId: "xero", endUserId: "demo-user", expiresAt: Date().addingTimeInterval(600), browserSecret: "b")
                .signed(secret: "another-secret-that-is-32-bytes-long!")
            let expired = try OAuthState(integrationId: "xero", endUserId: "demo-user", expiresAt: Date().addingTimeInterval(-5), browserSecret: "b")
                .signed(secret: Self.jwtSecret)
            for state in [forged, expired, "garbage", ""] {
                let response = try await api.execute(
                    uri: "/api/auth/callback?state=\(state)&connection_id=demo-xero", method: .get, headers: [.cookie: "marketplace_oauth=b"])
                #expect(response.status == .badRequest)
                #expect(Self.errorCode(try TestApp.json(response.body)) == "invalid_state")
            }
            #expect(try await sql("SELECT 1 FROM companies").isEmpty)
        }
    }

    /// A reconnect (Nango's `override` keeps the connection and its creation time) is asked for with the company's
    /// own token; the connection must be that company's, and Nango's `override` webhook for it must arrive after the state.
    @Test func aReconnectWithTheCompanysTokenGetsAFreshToken() async throws {
        try await Self.withStack { api, emulator, nangoURL, _ in
            let imported = try await api.execute(
                uri: "/api/admin/connections/import", method: .post, headers: Self.adminToken.merging([.contentType: "application/json"]),
                body: ByteBuffer(string: #"{"integration_id":"xero","connection_id":"demo-xero"}"#))
            let answer = try TestApp.json(imported.body)
            let token = try #require(answer["token"] as? String)
            // Without a valid token there is no reconnect.
            let refused = try await api.execute(uri: "/api/auth/oauth-url?integration_id=xero", method: .get, headers: [.authorization: "Bearer nope"])
            #expect(refused.status == .unauthorized)
            // Only the integration of the company's own connection can be reconnected.
            let otherIntegration = try await api.execute(
                uri: "/api/auth/oauth-url?integration_id=hubspot", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(otherIntegration.status == .badRequest)
            let started = try await Self.start(api, headers: [.authorization: "Bearer \(token)"])
            // The user re-authorizes in Nango's Connect UI with the reconnect session: the same connection, overridden.
            let reconnected = try await Self.completeConnectUI(nangoURL, session: started.sessionToken)
            #expect(reconnected == "demo-xero", "a reconnect session keeps the connection")
            // The exchange waits for Nango's `override` webhook, which here reaches us after the browser.
            async let exchanged = Self.exchange(api, #"{"connection_id":"demo-xero","state":"\#(started.state)","nonce":"\#(started.nonce)"}"#)
            try await Self.deliverOverride(api, emulator)
            let (status, json) = try await exchanged
            #expect(status == .ok)
            #expect((json["company"] as? [String: Any])?["connection_id"] as? String == "demo-xero")
            // Another company's connection is not this reconnect's.
            let (other, _) = try await Self.exchange(api, #"{"connection_id":"demo-hubspot","state":"\#(started.state)","nonce":"\#(started.nonce)"}"#)
            #expect(other == .forbidden)
            // A revoked token cannot mint a fresh one through a reconnect.
            let companyId = try #require((answer["company"] as? [String: Any])?["id"] as? String)
            let revoked = try await api.execute(uri: "/api/admin/companies/\(companyId)/tokens/revoke", method: .post, headers: Self.adminToken)
            #expect(revoked.status == .ok)
            let refusedAfterRevoke = try await api.execute(
                uri: "/api/auth/oauth-url?integration_id=xero", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(refusedAfterRevoke.status == .unauthorized)
        }
    }

    /// The emulator's latest `override` auth webhook, delivered to the app signed as Nango signs it.
    static func deliverOverride(_ api: any TestClientProtocol, _ emulator: Emulator) async throws {
        let delivery = try #require(emulator.webhooks.deliveries.last { $0.type == "auth" && $0.body.contains(#""operation":"override""#) })
        let stored = try await api.execute(uri: "/webhooks/nango", method: .post, headers: WebhookTests.headers(delivery.body),
                                           body: ByteBuffer(string: delivery.body))
        #expect(stored.status == .ok)
    }

    /// Nango refreshes the connection's credentials (as its hourly refresh, `refresh-all` or the provider's expiry do):
    /// the connection's `updated_at` moves, and no reconnect happened.
    static func refreshAtNango(_ nangoURL: String, connectionId: String = "demo-xero", integration: String = "xero") async throws {
        var request = HTTPClientRequest(url: "\(nangoURL)/connection/\(connectionId)?provider_config_key=\(integration)&force_refresh=true")
        request.headers.add(name: "Authorization", value: "Bearer \(nangoKey)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        #expect(response.status == .ok)
    }

    /// The company's token and a reconnect state asked for with it.
    static func importAndStartReconnect(_ api: any TestClientProtocol) async throws -> (companyId: String, started: Started) {
        let imported = try await api.execute(
            uri: "/api/admin/connections/import", method: .post, headers: Self.adminToken.merging([.contentType: "application/json"]),
            body: ByteBuffer(string: #"{"integration_id":"xero","connection_id":"demo-xero"}"#))
        let answer = try TestApp.json(imported.body)
        let token = try #require(answer["token"] as? String)
        let companyId = try #require((answer["company"] as? [String: Any])?["id"] as? String)
        return (companyId, try await Self.start(api, headers: [.authorization: "Bearer \(token)"]))
    }

    /// Reproduced from outside: a leaked token's holder asks for a reconnect state, the admin revokes, a refresh moves
    /// the connection's `updated_at`, and the old state is exchanged. A revocation must end every flow begun before it.
    @Test func aReconnectBegunBeforeARevocationGetsNoToken() async throws {
        try await Self.withStack { api, emulator, nangoURL, _ in
            let (companyId, started) = try await Self.importAndStartReconnect(api)
            let revoked = try await api.execute(uri: "/api/admin/companies/\(companyId)/tokens/revoke", method: .post, headers: Self.adminToken)
            #expect(revoked.status == .ok)
            try await Self.refreshAtNango(nangoURL)
            // Even a genuine reconnect after the revocation does not revive a state issued before it.
            _ = try await Self.completeConnectUI(nangoURL, session: started.sessionToken)
            try await Self.deliverOverride(api, emulator)
            let (status, json) = try await Self.exchange(api, #"{"connection_id":"demo-xero","state":"\#(started.state)","nonce":"\#(started.nonce)"}"#)
            #expect(status == .forbidden)
            #expect(Self.errorCode(json) == "connection_not_verified")
        }
    }

    /// A credential refresh moves the connection's `updated_at` but re-authorises nothing: without Nango's `override`
    /// for the connection after the state, a reconnect state buys no token.
    @Test func aCredentialRefreshIsNoProofOfAReconnect() async throws {
        try await Self.withStack { api, _, nangoURL, _ in
            let (_, started) = try await Self.importAndStartReconnect(api)
            try await Self.refreshAtNango(nangoURL)
            let (status, json) = try await Self.exchange(api, #"{"connection_id":"demo-xero","state":"\#(started.state)","nonce":"\#(started.nonce)"}"#)
            #expect(status == .forbidden)
            #expect(Self.errorCode(json) == "connection_not_verified")
        }
    }

    @Test func callbackRedirectsWhenURLsAreConfigured() async throws {
        try await Self.withStack(["OAUTH_SUCCESS_URL": "https://app.example/connected", "OAUTH_FAILURE_URL": "https://app.example/failed"]) { api, _, _, _ in
            let response = try await api.execute(uri: "/api/auth/callback?state=bad&connection_id=demo-xero", method: .get)
            #expect(response.status == .found)
            #expect(response.headers[.location] == "https://app.example/failed?error=invalid_state")
        }
    }

    /// Connections made outside the connect flow (scripts, demo data) are imported by an admin.
    @Test func anAdminImportsAConnectionAndGetsACompanyToken() async throws {
        try await Self.withStack { api, _, _, sql in
            let body = ByteBuffer(string: #"{"connection_id":"demo-quickbooks","integration_id":"quickbooks"}"#)
            let closed = try await api.execute(uri: "/api/admin/connections/import", method: .post, headers: [.contentType: "application/json"], body: body)
            #expect(closed.status == .unauthorized)
            let headers = Self.adminToken.merging([.contentType: "application/json"])
            let response = try await api.execute(uri: "/api/admin/connections/import", method: .post, headers: headers, body: body)
            #expect(response.status == .ok)
            let answer = try TestApp.json(response.body)
            let company = try #require(answer["company"] as? [String: Any])
            #expect(company["external_id"] as? String != nil, "QuickBooks' realmId")
            let claims = try await TokenIssuer(secret: Self.jwtSecret, lifetime: .seconds(60)).verify(try #require(answer["token"] as? String))
            #expect(claims.companyId == (company["id"] as? String))
            // Idempotent: a second import updates the same company.
            _ = try await api.execute(uri: "/api/admin/connections/import", method: .post, headers: headers, body: body)
            #expect(try await sql("SELECT 1 FROM companies").count == 1)
            let unknown = try await api.execute(uri: "/api/admin/connections/import", method: .post, headers: headers,
                                                body: ByteBuffer(string: #"{"connection_id":"nobody","integration_id":"quickbooks"}"#))
            #expect(unknown.status == .notFound)
        }
    }

    @Test func oauthURLNamesMissingParameters() async throws {
        try await Self.withStack { api, _, _, _ in
            let response = try await api.execute(uri: "/api/auth/oauth-url?connection_id=acme", method: .get)
            #expect(response.status == .badRequest)
            #expect((try TestApp.json(response.body)["error"] as? [String: String])?["message"]?.contains("integration_id") == true)
        }
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var result = self
        for field in other { result[field.name] = field.value }
        return result
    }
}
