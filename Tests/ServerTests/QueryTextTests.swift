import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import MarketplaceCore
import Testing
import TestSupport

@testable import Server

/// U+0000 in a query parameter, on every GET route the OpenAPI document lists: refused at the edge with a 400 that
/// names the parameter, before any route parses it or Postgres refuses it.
@Suite(.timeLimit(.minutes(10))) struct QueryTextTests {
    /// One documented query parameter of one GET operation, with a path that reaches the operation.
    struct Target: CustomStringConvertible {
        let operation: APIOperation
        let path: String
        let parameter: String
        var description: String { "\(operation.operationId) \(parameter)" }
    }

    static func targets(company: UUID) -> [Target] {
        APIDocument.operations.filter { $0.method == .get }.flatMap { operation in
            let path = operation.path.replacingOccurrences(of: "{id}", with: company.uuidString.lowercased())
                .replacingOccurrences(of: "{name}", with: "hubspot-contacts")
            return operation.parameters.filter { $0.location == .query }.map { Target(operation: operation, path: path, parameter: $0.name) }
        }
    }

    /// Letters, digits, what a query string treats as its own, a multi-byte character or two, and control characters.
    static let pieces = ["a", "Z", "7", "-", "_", ".", "é", "😀", "%", "&", "=", "+", "#", "?", "/", " ", "'", "\\", "\u{1}", "\u{7F}", "\u{8E}", "00"]

    /// A value holding U+0000 at least once, anywhere, percent-encoded as a client would send it.
    static func nulValue(_ g: inout FuzzTests.Generator) -> String {
        var value = (0..<g.int(0...12)).map { _ in g.pick(pieces) }
        for _ in 0..<g.int(1...3) { value.insert("\u{0}", at: g.int(0...value.count)) }
        return value.joined().addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    /// Another documented parameter of the same operation, with a value without U+0000 (valid or not).
    static func neighbour(_ target: Target, _ g: inout FuzzTests.Generator) -> String? {
        let others = target.operation.parameters.filter { $0.location == .query && $0.name != target.parameter }
        guard !others.isEmpty, g.int(0...1) == 0 else { return nil }
        let value = g.pick(["1", "0", "abc", "true", "raw", "2026-01-31T00:00:00Z", "%25", "x%C3%A9"])
        return g.pick(others).name + "=" + value
    }

    static func headers(_ security: APIOperation.Security, _ seeded: CompaniesAPITests.Seeded) -> HTTPFields {
        switch security {
        case .bearer: CompaniesAPITests.bearer(seeded.admin)
        case .admin: AdminEndpointsTests.token
        case .none, .nangoSignature: [:]
        }
    }

    /// 25 values a parameter, from a fixed seed: each answer is 400 `invalid_parameter` naming the parameter.
    @Test func aNULInAnyDocumentedQueryParameterOfAnyGETRouteIsA400NamingIt() async throws {
        try await CompaniesAPITests.withSeeded(contacts: 3) { client, seeded, _ in
            let targets = Self.targets(company: seeded.a)
            // The document's own list, so a parameter added there is covered here without a word in this test.
            #expect(targets.count >= 40, "\(targets)")
            #expect(targets.contains { $0.operation.operationId == "adminWebhookEvents" && $0.parameter == "type" })
            #expect(targets.contains { $0.operation.operationId == "listContacts" && $0.parameter == "q" })
            var g = FuzzTests.Generator(seed: 20_260_126)
            var checked = 0
            for target in targets {
                for _ in 0..<25 {
                    var items = [target.parameter + "=" + Self.nulValue(&g)]
                    if let other = Self.neighbour(target, &g) { items.insert(other, at: g.int(0...1)) }
                    let uri = target.path + "?" + items.joined(separator: "&")
                    let response = try await client.execute(uri: uri, method: .get, headers: Self.headers(target.operation.security, seeded))
                    let body = try? JSONValue.parse(response.body.readableBytesView)
                    let named = body?["error"]?["message"]?.string?.hasPrefix("'\(target.parameter)' must not contain U+0000") == true
                    if response.status != .badRequest || body?["error"]?["code"]?.string != "invalid_parameter" || !named {
                        // One failure a parameter says enough.
                        Issue.record("\(target): \(uri) → \(response.status.code) \(String(buffer: response.body))")
                        break
                    }
                    checked += 1
                }
            }
            #expect(checked == targets.count * 25)
        }
    }

    /// Found from outside by schemathesis: a NUL in an admin filter reached Postgres and came back as 503.
    @Test func theAdminInboxFilterThatAnswered503IsA400() async throws {
        try await CompaniesAPITests.withSeeded(contacts: 1) { client, _, _ in
            let response = try await client.execute(
                uri: "/api/admin/webhook-events?type=%C2%8E%12%C3%BA%00&connection_id=demo-hubspot", method: .get, headers: AdminEndpointsTests.token)
            #expect(response.status == .badRequest)
            let body = try JSONValue.parse(response.body.readableBytesView)
            #expect(body["error"]?["message"]?.string == "'type' must not contain U+0000 (NUL)")
            #expect(body["error"]?["request_id"] != nil)
        }
    }

    /// A time past Postgres' last one (and, in milliseconds, past Int64 microseconds, where the driver traps while
    /// encoding it) is refused as a parameter, not sent.
    @Test func anInboxFilterTimePastTheYear9999IsA400() async throws {
        try await CompaniesAPITests.withSeeded(contacts: 1) { client, _, _ in
            for since in ["9224318016000500", "9999999999999999", "99999999999999999999", "253402300800"] {
                let response = try await client.execute(
                    uri: "/api/admin/webhook-events?since=\(since)", method: .get, headers: AdminEndpointsTests.token)
                #expect(response.status == .badRequest, "\(since): \(String(buffer: response.body))")
                #expect(String(buffer: response.body).contains("'since' must be an ISO 8601 time"), "\(since)")
            }
            let latest = try await client.execute(
                uri: "/api/admin/webhook-events?since=253402300799&until=9999-12-31T23:59:59Z", method: .get, headers: AdminEndpointsTests.token)
            #expect(latest.status == .ok, "\(String(buffer: latest.body))")
        }
    }

    @Test func onlyAZeroByteMakesTheEdgeLookCloser() {
        #expect(QueryTextMiddleware<AppRequestContext>.parameterHoldingNUL(URI("/a?x=%C0%80&y=%2500")) == nil)
        #expect(QueryTextMiddleware<AppRequestContext>.parameterHoldingNUL(URI("/a?x=1&y=a%00&z=%00")) == "y")
        #expect(QueryTextMiddleware<AppRequestContext>.parameterHoldingNUL(URI("/a")) == nil)
    }
}
