import Tokens
import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingest
import JWTKit
import Logging
import MarketplaceCore
import Pipeline
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

/// The business endpoints against real Postgres: scoping, tokens, keyset pages, ETags.
@Suite(.timeLimit(.minutes(10))) struct CompaniesAPITests {
    static let secret = "test-jwt-secret-that-is-long-enough-0123456789"

    struct Seeded: Sendable {
        let a: UUID
        let b: UUID
        let tokenA: String
        let admin: String
    }

    /// Two companies; `contacts` rows for the first.
    static func seed(_ database: Database, contacts: Int) async throws -> Seeded {
        let (a, b) = try await database.withConnection { db in
            let logger = TestEnvironment.logger
            var ids: [UUID] = []
            for connection in ["conn-a", "conn-b"] {
                let rows = try await db.query("""
                    INSERT INTO companies (connection_id, integration_id, provider, name) VALUES (\(connection), 'hubspot', 'hubspot', \("Company " + connection))
                    RETURNING id
                    """, logger: logger)
                for try await id in rows.decode(UUID.self) { ids.append(id) }
            }
            try await db.query("""
                INSERT INTO contacts (company_id, external_id, display_name, email, content_hash, raw, source_updated_at)
                SELECT \(ids[0]), 'c-' || n, 'Person ' || lpad(n::text, 6, '0'), 'person' || n || '@example.com', 'h', '{"secret":"raw"}', now()
                FROM generate_series(1, \(contacts)) AS n
                """, logger: logger)
            return (ids[0], ids[1])
        }
        let issuer = await TokenIssuer(secret: secret, lifetime: .seconds(3600))
        let tokenA = try await issuer.companyToken(a, subject: "user-a")
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let admin = try await keys.sign(APIClaims(subject: "ops", expiresAt: Date().addingTimeInterval(600), companyId: nil, scope: "admin read"))
        return Seeded(a: a, b: b, tokenA: tokenA, admin: admin)
    }

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    static func withSeeded(contacts: Int = 30, _ body: @escaping @Sendable (any TestClientProtocol, Seeded, Database) async throws -> Void) async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let seeded = try await seed(database, contacts: contacts)
                let app = buildApplication(try await TestApp.dependencies(database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { client in try await body(client, seeded, database) }
            }
        }
    }

    @Test func aCompanyTokenSeesItsCompanyOnlyAndOthersAre404() async throws {
        try await Self.withSeeded { client, seeded, _ in
            let response = try await client.execute(uri: "/api/companies", method: .get, headers: Self.bearer(seeded.tokenA))
            #expect(response.status == .ok)
            let list = try TestApp.json(response.body)
            let data = try #require(list["data"] as? [[String: Any]])
            #expect(data.map { $0["id"] as? String } == [seeded.a.uuidString.lowercased()])
            #expect(list.keys.contains("next_cursor"))
            for path in ["/api/companies/\(seeded.b)", "/api/companies/\(seeded.b)/contacts", "/api/companies/not-a-uuid", "/api/companies/\(UUID())/products"] {
                let other = try await client.execute(uri: path, method: .get, headers: Self.bearer(seeded.tokenA))
                #expect(other.status == .notFound, "\(path)")
                #expect(String(buffer: other.body).contains("\"request_id\""))
            }
            let own = try await client.execute(uri: "/api/companies/\(seeded.a)", method: .get, headers: Self.bearer(seeded.tokenA))
            #expect(own.status == .ok)
            #expect(String(buffer: own.body).contains("connection_metadata") == false)
            let all = try await client.execute(uri: "/api/companies", method: .get, headers: Self.bearer(seeded.admin))
            #expect((try TestApp.json(all.body)["data"] as? [Any])?.count == 2)
            let otherAsAdmin = try await client.execute(uri: "/api/companies/\(seeded.b)/contacts", method: .get, headers: Self.bearer(seeded.admin))
            #expect(otherAsAdmin.status == .ok)
        }
    }

    @Test func everyBadTokenIs401() async throws {
        try await Self.withSeeded { client, seeded, _ in
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: "another-secret-that-is-long-enough-0123456789"), digestAlgorithm: .sha256)
            let wrongKey = try await keys.sign(APIClaims(subject: "x", expiresAt: Date().addingTimeInterval(600), companyId: seeded.a, scope: nil))
            let right = JWTKeyCollection()
            await right.add(hmac: HMACKey(from: Self.secret), digestAlgorithm: .sha256)
            let expired = try await right.sign(APIClaims(subject: "x", expiresAt: Date().addingTimeInterval(-60), issuedAt: Date().addingTimeInterval(-600), companyId: seeded.a, scope: nil))
            // alg none: the same claims, no signature.
            let parts = seeded.tokenA.split(separator: ".")
            let none = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "") + "." + parts[1] + "."
            let cases: [(String, HTTPFields)] = [
                ("missing", [:]), ("not bearer", [.authorization: "Basic abc"]), ("malformed", Self.bearer("not.a.jwt")),
                ("wrong key", Self.bearer(wrongKey)), ("expired", Self.bearer(expired)), ("alg none", Self.bearer(none)),
                ("tampered", Self.bearer(String(parts[0]) + "." + String(parts[1]) + "x." + String(parts[2]))),
            ]
            for (name, headers) in cases {
                let response = try await client.execute(uri: "/api/companies/\(seeded.a)/contacts", method: .get, headers: headers)
                #expect(response.status == .unauthorized, "\(name)")
                #expect(String(buffer: response.body).contains("\"code\":\"unauthorized\""), "\(name)")
                #expect(response.headers[.wwwAuthenticate] == "Bearer", "\(name)")
            }
            let expiredBody = try await client.execute(uri: "/api/companies", method: .get, headers: Self.bearer(expired))
            #expect(String(buffer: expiredBody.body).contains("expired"))
        }
    }

    @Test func keysetPagesWalkTenThousandRowsWithNoDuplicateAndNoGapWhileRowsAreUpserted() async throws {
        try await Self.withSeeded(contacts: 10_000) { client, seeded, database in
            let writer = Task {
                var round = 0
                while !Task.isCancelled {
                    round += 1
                    try await database.withConnection { db in
                        try await db.query("""
                            INSERT INTO contacts (company_id, external_id, display_name, content_hash, raw)
                            SELECT \(seeded.a), 'new-' || \(round) || '-' || n, 'Late ' || n, 'h', '{}' FROM generate_series(1, 20) AS n;
                            """, logger: TestEnvironment.logger)
                        try await db.query("""
                            UPDATE contacts SET display_name = display_name || '.', updated_at = now()
                            WHERE company_id = \(seeded.a) AND external_id IN (SELECT 'c-' || (random() * 9999 + 1)::int FROM generate_series(1, 50))
                            """, logger: TestEnvironment.logger)
                    }
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            defer { writer.cancel() }
            var seen: [String: Int] = [:]
            var cursor: String?
            var pages = 0
            repeat {
                let query = "limit=500&sort=created_at" + (cursor.map { "&cursor=" + $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! } ?? "")
                let response = try await client.execute(uri: "/api/companies/\(seeded.a)/contacts?\(query)", method: .get, headers: Self.bearer(seeded.tokenA))
                #expect(response.status == .ok)
                let page = try TestApp.json(response.body)
                for item in page["data"] as? [[String: Any]] ?? [] {
                    let id = item["external_id"] as? String ?? ""
                    seen[id, default: 0] += 1
                    #expect(item["raw"] == nil && item["company_id"] == nil && item["content_hash"] == nil)
                }
                cursor = page["next_cursor"] as? String
                pages += 1
            } while cursor != nil && pages < 100
            let original = seen.filter { $0.key.hasPrefix("c-") }
            #expect(original.count == 10_000)
            #expect(seen.values.allSatisfy { $0 == 1 })
            #expect(pages >= 20)
        }
    }

    @Test func listParametersAreCheckedAndCursorsCannotBeForged() async throws {
        try await Self.withSeeded(contacts: 120) { client, seeded, _ in
            let base = "/api/companies/\(seeded.a)/contacts"
            for query in ["limit=0", "limit=501", "limit=x", "sort=email", "updated_since=yesterday", "include_deleted=maybe", "include=tokens", "cursor=abc", "colour=red",
                          "q=%00", "q=a%00b"] {
                let response = try await client.execute(uri: "\(base)?\(query)", method: .get, headers: Self.bearer(seeded.tokenA))
                #expect(response.status == .badRequest, "\(query)")
                #expect(String(buffer: response.body).contains("invalid_parameter"), "\(query)")
                if query.hasPrefix("q=") { #expect(String(buffer: response.body).contains("'q' must not contain U+0000"), "names the parameter") }
            }
            let first = try TestApp.json(try await client.execute(uri: "\(base)?limit=50&sort=name", method: .get, headers: Self.bearer(seeded.tokenA)).body)
            let cursor = try #require(first["next_cursor"] as? String)
            var tampered = Array(cursor)
            tampered[3] = tampered[3] == "A" ? "B" : "A"
            let forged = try await client.execute(uri: "\(base)?limit=50&sort=name&cursor=\(String(tampered))", method: .get, headers: Self.bearer(seeded.tokenA))
            #expect(forged.status == .badRequest)
            // A cursor is bound to its list: another sort cannot reuse it.
            let moved = try await client.execute(uri: "\(base)?limit=50&sort=-name&cursor=\(cursor)", method: .get, headers: Self.bearer(seeded.tokenA))
            #expect(moved.status == .badRequest)
            let second = try TestApp.json(try await client.execute(uri: "\(base)?limit=50&sort=name&cursor=\(cursor)", method: .get, headers: Self.bearer(seeded.tokenA)).body)
            let names = (first["data"] as? [[String: Any]] ?? []).compactMap { $0["display_name"] as? String }
                + (second["data"] as? [[String: Any]] ?? []).compactMap { $0["display_name"] as? String }
            #expect(names == names.sorted() && Set(names).count == 100)
            let search = try TestApp.json(try await client.execute(uri: "\(base)?q=Person%20000011", method: .get, headers: Self.bearer(seeded.tokenA)).body)
            #expect((search["data"] as? [[String: Any]])?.count == 1)
            let raw = try await client.execute(uri: "\(base)?limit=1&include=raw", method: .get, headers: Self.bearer(seeded.tokenA))
            #expect(String(buffer: raw.body).contains("\"secret\""))
        }
    }

    @Test func getsCarryAStrongETagAndIfNoneMatchIs304() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let seeded = try await Self.seed(database, contacts: 30)
                let dependencies = try await TestApp.dependencies(database: configuration)
                let app = buildApplication(dependencies, port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { client in
                    let path = "/api/companies/\(seeded.a)/contacts?limit=10"
                    let first = try await client.execute(uri: path, method: .get, headers: Self.bearer(seeded.tokenA))
                    let tag = try #require(first.headers[.eTag])
                    #expect(tag.hasPrefix("\"") && !tag.hasPrefix("W/"))
                    var headers = Self.bearer(seeded.tokenA)
                    headers[.ifNoneMatch] = tag
                    let again = try await client.execute(uri: path, method: .get, headers: headers)
                    #expect(again.status == .notModified)
                    #expect(again.body.readableBytes == 0)
                    // A change lands as the pipeline lands it: written, then the cache version bumped.
                    try await database.write(fencedBy: nil, logger: TestEnvironment.logger) { transaction in
                        try await transaction.connection.query("UPDATE contacts SET display_name = 'Changed'", logger: TestEnvironment.logger)
                        transaction.changed(companyId: seeded.a, [.contacts])
                    }
                    let changed = try await client.execute(uri: path, method: .get, headers: headers)
                    #expect(changed.status == .ok)
                    #expect(changed.headers[.eTag] != tag)
                }
            }
        }
    }

    @Test func aClientThatAcceptsGzipGetsTheSameAnswerCompressedUnderATagOfItsOwn() async throws {
        try await Self.withSeeded { client, seeded, _ in
            let path = "/api/companies/\(seeded.a)/contacts?limit=30"
            let plain = try await client.execute(uri: path, method: .get, headers: Self.bearer(seeded.tokenA))
            #expect(plain.status == .ok)
            #expect(plain.headers[.contentEncoding] == nil)
            #expect(plain.headers[.vary] == "Accept-Encoding")
            #expect(plain.body.readableBytes > 4000)
            let tag = try #require(plain.headers[.eTag])
            #expect(tag.count == 34)

            var accepting = Self.bearer(seeded.tokenA)
            accepting[.acceptEncoding] = "gzip, deflate, br"
            // Twice: the second answer is the kept form, and must be the same bytes as the first.
            for _ in 0..<2 {
                let gzipped = try await client.execute(uri: path, method: .get, headers: accepting)
                #expect(gzipped.status == .ok)
                #expect(gzipped.headers[.contentEncoding] == "gzip")
                #expect(gzipped.headers[.vary] == "Accept-Encoding")
                #expect(gzipped.headers[.contentType] == "application/json; charset=utf-8")
                #expect(gzipped.headers[.eTag] == String(tag.dropLast()) + "-gzip\"")
                #expect(Array(gzipped.body.readableBytesView.prefix(2)) == [0x1F, 0x8B])
                #expect(gzipped.body.readableBytes * 3 < plain.body.readableBytes)
                var compressed = gzipped.body
                let inflated = try compressed.decompress(with: .gzip())
                #expect(inflated == plain.body)
            }

            // A client refusing gzip by name, or naming only other codings, gets the body as it is.
            for refusal in ["gzip;q=0, *", "deflate, br", "identity"] {
                var headers = Self.bearer(seeded.tokenA)
                headers[.acceptEncoding] = refusal
                let answer = try await client.execute(uri: path, method: .get, headers: headers)
                #expect(answer.headers[.contentEncoding] == nil, "\(refusal)")
                #expect(answer.body == plain.body, "\(refusal)")
            }

            // Either tag answers 304, with the tag of the encoding the client would be sent.
            for presented in [tag, String(tag.dropLast()) + "-gzip\""] {
                var conditional = accepting
                conditional[.ifNoneMatch] = presented
                let unchanged = try await client.execute(uri: path, method: .get, headers: conditional)
                #expect(unchanged.status == .notModified)
                #expect(unchanged.headers[.eTag] == String(tag.dropLast()) + "-gzip\"")
                #expect(unchanged.body.readableBytes == 0)
            }

            // A body under 1 KB goes as it is whatever the client accepts.
            let small = try await client.execute(uri: "/api/companies/\(seeded.a)/contacts?limit=1", method: .get, headers: accepting)
            #expect(small.status == .ok)
            #expect(small.body.readableBytes < 1024)
            #expect(small.headers[.contentEncoding] == nil)
            #expect(small.headers[.eTag]?.hasSuffix("-gzip\"") == false)
        }
    }

    @Test func aSyncRequestEnqueuesTheCompanysModelsOnce() async throws {
        try await Self.withSeeded { client, seeded, database in
            let response = try await client.execute(uri: "/api/companies/\(seeded.a)/sync", method: .post, headers: Self.bearer(seeded.tokenA))
            #expect(response.status == .accepted)
            let body = try TestApp.json(response.body)
            #expect((body["models"] as? [String])?.sorted() == ["Company", "Contact", "Product"])
            let ids = try #require(body["job_ids"] as? [Int])
            #expect(ids.count == 3)
            let again = try TestApp.json(try await client.execute(uri: "/api/companies/\(seeded.a)/sync", method: .post, headers: Self.bearer(seeded.tokenA)).body)
            #expect((again["job_ids"] as? [Int])?.sorted() == ids.sorted())
            let count = try await database.query("SELECT count(*)::int FROM jobs WHERE kind = 'sync.run'", logger: TestEnvironment.logger)
            #expect(try count.first?.decode(Int.self) == 3)
            let other = try await client.execute(uri: "/api/companies/\(seeded.b)/sync", method: .post, headers: Self.bearer(seeded.tokenA))
            #expect(other.status == .notFound)
        }
    }
}
