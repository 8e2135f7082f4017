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
@Suite(.timeLimit(.minutes(2))) struct OAuthTests {
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

    @Test func theConnectFlowEndsWithACompanyAndSealedCredentials() async throws {
        try await Self.withStack { api, emulator, nangoURL, sql in
            // 1. Start: a connect session and a signed state.
            let start = try await api.execute(uri: "/api/auth/oauth-url?integration_id=xero&connection_id=acme-42", method: .get)
            #expect(start.status == .ok)
            let started = try TestApp.json(start.body)
            let token = try #require(started["connect_session_token"] as? String)
            let state = try #require(started["state"] as? String)
            #expect((started["connect_url"] as? String)?.contains("session_token=\(token)") == true)

            // 2. The user completes the emulator's Connect UI; Nango creates the connection.
            var form = HTTPClientRequest(url: "\(nangoURL)/connect/complete")
            form.method = .POST
            form.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            form.body = .bytes(ByteBuffer(string: "session_token=\(token)&integration=xero"))
            let page = String(buffer: try await HTTPClient.shared.execute(form, timeout: .seconds(5)).body.collect(upTo: 1 << 16))
            let connectionId = try #require(page.firstMatch(of: /data-connection-id="([0-9a-f-]+)"/).map { String($0.1) })

            // 3. The front end sends the user to our callback.
            let callback = try await api.execute(
                uri: "/api/auth/callback?state=\(state.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&connection_id=\(connectionId)",
                method: .get)
            #expect(callback.status == .ok)
            let answer = try TestApp.json(callback.body)
            let company = try #require(answer["company"] as? [String: Any])
            #expect(company["connection_id"] as? String == connectionId)
            #expect(company["integration_id"] as? String == "xero" && company["status"] as? String == "active")
            #expect((answer["token"] as? String)?.split(separator: ".").count == 3)
            #expect(String(describing: answer).contains("access_token") == false)

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
        }
    }

    @Test func aTamperedOrExpiredStateIs400AndStoresNothing() async throws {
        try await Self.withStack { api, _, _, sql in
            let forged = try OAuthState(integrationId: "xero", reference: "acme", expiresAt: Date().addingTimeInterval(600)).signed(secret: "another-secret-that-is-32-bytes-long!")
            let expired = try OAuthState(integrationId: "xero", reference: "acme", expiresAt: Date().addingTimeInterval(-5))
                .signed(secret: "test-jwt-secret-that-is-long-enough-0123456789")
            for state in [forged, expired, "garbage", ""] {
                let response = try await api.execute(uri: "/api/auth/callback?state=\(state)&connection_id=demo-xero", method: .get)
                #expect(response.status == .badRequest)
                #expect((try TestApp.json(response.body)["error"] as? [String: String])?["code"] == "invalid_state")
            }
            #expect(try await sql("SELECT 1 FROM companies").isEmpty)
        }
    }

    @Test func callbackRedirectsWhenURLsAreConfigured() async throws {
        try await Self.withStack(["OAUTH_SUCCESS_URL": "https://app.example/connected", "OAUTH_FAILURE_URL": "https://app.example/failed"]) { api, _, _, _ in
            let response = try await api.execute(uri: "/api/auth/callback?state=bad&connection_id=demo-xero", method: .get)
            #expect(response.status == .found)
            #expect(response.headers[.location] == "https://app.example/failed?error=invalid_state")
        }
    }

    @Test func exchangeStoresTheCompanyAndIssuesACompanyToken() async throws {
        try await Self.withStack { api, _, _, sql in
            let body = ByteBuffer(string: #"{"connection_id":"demo-quickbooks","integration_id":"quickbooks"}"#)
            let response = try await api.execute(uri: "/api/auth/exchange", method: .post, headers: [.contentType: "application/json"], body: body)
            #expect(response.status == .ok)
            let answer = try TestApp.json(response.body)
            let company = try #require(answer["company"] as? [String: Any])
            #expect(company["external_id"] as? String != nil, "QuickBooks' realmId")
            let claims = try await TokenIssuer(secret: "test-jwt-secret-that-is-long-enough-0123456789", lifetime: .seconds(60))
                .verify(try #require(answer["token"] as? String))
            #expect(claims.companyId == (company["id"] as? String))
            // Idempotent: a second exchange updates the same company.
            _ = try await api.execute(uri: "/api/auth/exchange", method: .post, headers: [.contentType: "application/json"], body: body)
            #expect(try await sql("SELECT 1 FROM companies").count == 1)

            let unknown = try await api.execute(
                uri: "/api/auth/exchange", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"connection_id":"nobody","integration_id":"quickbooks"}"#))
            #expect(unknown.status == .notFound)
            #expect((try TestApp.json(unknown.body)["error"] as? [String: String])?["code"] == "connection_not_found")
            let missing = try await api.execute(uri: "/api/auth/exchange", method: .post, headers: [.contentType: "application/json"],
                                                body: ByteBuffer(string: #"{"connection_id":"x"}"#))
            #expect(missing.status == .badRequest)
            #expect((try TestApp.json(missing.body)["error"] as? [String: String])?["message"]?.contains("integration_id") == true)
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
