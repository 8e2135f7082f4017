import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

/// Real Postgres refusals through the app's error edge: each answer is what its SQLSTATE means, in the one error
/// shape, and only what a retry may cure is a 503 with Retry-After.
@Suite(.timeLimit(.minutes(10))) struct PostgresAnswerTests {
    static let logger = TestEnvironment.logger

    /// A router with the app's error edge and routes that make Postgres refuse: `/raise/:state` raises that SQLSTATE,
    /// `/as-integer?value=` casts a value in Postgres, as a statement given a value the edge let through would.
    static func router(_ database: Database) -> Router<AppRequestContext> {
        let router = Router(context: AppRequestContext.self)
        router.addMiddleware { ErrorMiddleware() }
        router.get("/raise/:state") { _, context in
            let state = try context.parameters.require("state")
            guard state.count == 5, state.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw APIError.notFound
            }
            try await database.query(PostgresQuery(unsafeSQL: """
                DO $$ BEGIN RAISE EXCEPTION 'refused for the test' USING ERRCODE = '\(state)'; END $$
                """), logger: logger)
            return "not refused"
        }
        router.get("/as-integer") { request, context in
            let value = request.uri.queryParameters["value"].map(String.init) ?? ""
            let rows = try await database.query("SELECT CAST(\(value) AS integer)", logger: logger)
            return "\(try rows[0].decode(Int.self))"
        }
        router.get("/unreachable") { _, _ in
            // Nothing listens on the port: the server never answers.
            let connection = try await PostgresConnection.connect(
                configuration: .init(host: "127.0.0.1", port: FreePort.next(), username: "nobody", password: nil, database: "none", tls: .disable),
                id: 1, logger: logger)
            try await connection.close()
            return "connected"
        }
        router.get("/dropped") { _, _ in
            // The server drops the connection under the request's transaction, before its commit.
            try await database.withTransaction(logger: logger) { connection in
                try await DeadConnection.kill(connection, database: database)
            }
            return "committed"
        }
        return router
    }

    struct Answer: Equatable, CustomStringConvertible {
        var status: Int
        var code: String
        var retryAfter: String?
        var description: String { "\(status) \(code) Retry-After: \(retryAfter ?? "none")" }
    }

    static func answer(_ client: any TestClientProtocol, _ uri: String) async throws -> Answer {
        let response = try await client.execute(uri: uri, method: .get)
        let body = try JSONValue.parse(response.body.readableBytesView)
        #expect(body["error"]?["request_id"] != nil, "\(uri): the one error shape: \(String(buffer: response.body))")
        return Answer(status: Int(response.status.code), code: body["error"]?["code"]?.string ?? "", retryAfter: response.headers[.retryAfter])
    }

    @Test func eachRefusalIsAnsweredByWhatItsSQLStateMeans() async throws {
        let expected: [(String, Answer)] = [
            ("22003", Answer(status: 400, code: "invalid_value")), ("22P02", Answer(status: 400, code: "invalid_value")),
            ("23505", Answer(status: 409, code: "conflict")), ("23503", Answer(status: 409, code: "conflict")),
            ("40001", Answer(status: 503, code: "unavailable", retryAfter: "5")), ("40P01", Answer(status: 503, code: "unavailable", retryAfter: "5")),
            ("55P03", Answer(status: 503, code: "unavailable", retryAfter: "5")), ("57014", Answer(status: 503, code: "unavailable", retryAfter: "5")),
            ("57P01", Answer(status: 503, code: "unavailable", retryAfter: "5")), ("08006", Answer(status: 503, code: "unavailable", retryAfter: "5")),
            ("53300", Answer(status: 503, code: "unavailable", retryAfter: "5")),
            ("42P01", Answer(status: 500, code: "internal_error")), ("42501", Answer(status: 500, code: "internal_error")),
            ("XX000", Answer(status: 500, code: "internal_error")), ("P0001", Answer(status: 500, code: "internal_error")),
        ]
        try await TestDatabase.withClient(migrated: false) { database in
            try await Application(router: Self.router(database)).test(.router) { client in
                for (state, answer) in expected {
                    let got = try await Self.answer(client, "/raise/\(state)")
                    #expect(got == answer, "\(state)")
                }
            }
        }
    }

    /// A value the edge let through and Postgres finds out of range is the request's fault: 400, not "retry later".
    @Test func anOutOfRangeValueThatReachesPostgresIs400() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            try await Application(router: Self.router(database)).test(.router) { client in
                let fits = try await client.execute(uri: "/as-integer?value=2147483647", method: .get)
                #expect(fits.status == .ok && String(buffer: fits.body) == "2147483647")
                let outOfRange = try await Self.answer(client, "/as-integer?value=2147483648")
                #expect(outOfRange == Answer(status: 400, code: "invalid_value"))
                let notANumber = try await Self.answer(client, "/as-integer?value=twelve")
                #expect(notANumber == Answer(status: 400, code: "invalid_value"))
            }
        }
    }

    /// A connection that never got an answer, or that the server dropped under the request, is still "retry later".
    @Test func noAnswerFromPostgresIs503WithRetryAfter() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            try await Application(router: Self.router(database)).test(.router) { client in
                let unreachable = try await Self.answer(client, "/unreachable")
                #expect(unreachable == Answer(status: 503, code: "unavailable", retryAfter: "5"))
                let dropped = try await Self.answer(client, "/dropped")
                #expect(dropped == Answer(status: 503, code: "unavailable", retryAfter: "5"), "a connection dropped under the request")
            }
        }
    }
}
