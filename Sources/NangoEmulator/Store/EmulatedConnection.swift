import Foundation
import MarketplaceCore

/// A connection as the emulator keeps it: Nango's fields plus the OAuth tokens it would hold.
struct EmulatedConnection: Sendable {
    var id: Int
    var connectionId: String
    var integration: Integration
    var createdAt: Timestamp
    var updatedAt: Timestamp
    var lastFetchedAt: Timestamp?
    var accessToken: String
    var refreshToken: String
    var expiresAt: Timestamp
    /// A revoked grant: refreshing fails as the provider refused it.
    var revoked = false
    var tags: [String: String]?
    var endUser: JSONValue?
    var connectionConfig: [String: JSONValue]

    static func newToken(_ prefix: String) -> String {
        prefix + "_" + (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 36) }.joined()
    }

    mutating func refresh(at now: Timestamp) {
        accessToken = Self.newToken("at")
        expiresAt = Timestamp(micros: now.micros + 3_600_000_000)
        updatedAt = now
    }

    /// `GET /connection/{id}` as Nango formats it (docs/nango.md §2.5).
    /// `end_user` as Nango's API formats it (`server/lib/formatters/endUser.ts`), not the webhook's shape.
    var apiEndUser: JSONValue {
        guard let endUser else { return .null }
        return .object([
            "id": endUser["endUserId"] ?? endUser["id"] ?? .null, "display_name": endUser["display_name"] ?? .null,
            "email": endUser["endUserEmail"] ?? endUser["email"] ?? .null, "tags": endUser["tags"] ?? .object([:]),
            "organization": endUser["organization"] ?? .null,
        ])
    }

    /// `scopedKey`: the secret key lacks the read-credentials scope, and Nango answers `credentials: {}`.
    func json(includeRefreshToken: Bool, scopedKey: Bool = false) -> JSONValue {
        var raw: [String: JSONValue] = [
            "access_token": .string(accessToken), "expires_in": .number(3600), "token_type": .string("bearer"),
        ]
        var credentials: [String: JSONValue] = [
            "type": .string("OAUTH2"), "access_token": .string(accessToken), "expires_at": .string(expiresAt.javascript),
        ]
        if includeRefreshToken {
            raw["refresh_token"] = .string(refreshToken)
            credentials["refresh_token"] = .string(refreshToken)
        }
        credentials["raw"] = .object(raw)
        return .object([
            "id": .number(Double(id)), "connection_id": .string(connectionId), "provider_config_key": .string(integration.key),
            "provider": .string(integration.provider), "errors": .array([]), "end_user": apiEndUser,
            "tags": tags.map { .object($0.mapValues(JSONValue.string)) } ?? .object([:]), "metadata": .null,
            "connection_config": .object(connectionConfig), "webhook_url_override": .null,
            "created_at": .string(Self.nangoTime(createdAt)), "updated_at": .string(Self.nangoTime(updatedAt)),
            "last_fetched_at": lastFetchedAt.map { .string(Self.nangoTime($0)) } ?? .null,
            "credentials": .object(scopedKey ? [:] : credentials),
        ])
    }

    /// Top-level connection times: milliseconds and `+00:00`.
    static func nangoTime(_ time: Timestamp) -> String {
        time.javascript.replacingOccurrences(of: "Z", with: "+00:00")
    }

    /// Provider-specific connection config, as Nango stores it.
    static func config(for integration: Integration, seed: inout SeededGenerator) -> [String: JSONValue] {
        switch integration.provider {
        case "quickbooks": ["realmId": .string("93414" + seed.digits(8))]
        case "xero": ["tenant_id": .string(seed.uuid())]
        case "hubspot": ["portalId": .string(seed.digits(8))]
        case "salesforce": ["instance_url": .string("https://example-\(seed.digits(4)).my.salesforce.com")]
        default: [:]
        }
    }
}
