import Crypto
import Foundation
import MarketplaceCore

/// The `state` our callback verifies, HMAC-SHA256 signed (`base64url(json).base64url(mac)`): which integration
/// the user connects, the random end-user id we gave Nango's connect session (the only proof that a connection
/// came from this flow: connection ids are not secrets), when it was issued, the browser it was issued to (a hash
/// of a secret only that browser holds), and, for a reconnect, the company being reconnected and the token generation
/// the reconnect was asked under (a revocation after it ends the flow).
public struct OAuthState: Sendable, Equatable, Codable {
    public var integrationId: String
    /// Our random end-user id, sent to Nango with the connect session; the connection must carry it.
    public var endUserId: String
    /// The caller's own label for the connection, if it gave one (kept as a Nango tag, never trusted).
    public var reference: String?
    public var issuedAt: Int64
    public var expiresAt: Int64
    /// Hex SHA-256 of the browser secret (cookie or kept nonce): a state copied elsewhere is worthless.
    public var browser: String
    /// A reconnect (Nango's `override`) of this company's connection.
    public var companyId: String?
    /// The company's token generation when the reconnect was asked for: a revocation since refuses the exchange.
    public var tokenGeneration: Int?

    enum CodingKeys: String, CodingKey {
        case integrationId = "i", endUserId = "u", reference = "r", issuedAt = "t", expiresAt = "e", browser = "b", companyId = "c"
        case tokenGeneration = "g"
    }

    public enum Failure: Error, Sendable, Equatable {
        case malformed
        case badSignature
        case expired
        case otherBrowser
    }

    public init(
        integrationId: String, endUserId: String, reference: String? = nil, issuedAt: Date = Date(), expiresAt: Date,
        browserSecret: String, companyId: UUID? = nil, tokenGeneration: Int? = nil
    ) {
        self.integrationId = integrationId
        self.endUserId = endUserId
        self.reference = reference
        self.issuedAt = Int64(issuedAt.timeIntervalSince1970)
        self.expiresAt = Int64(expiresAt.timeIntervalSince1970)
        self.browser = Self.browserHash(browserSecret)
        self.companyId = companyId?.lowercasedString
        self.tokenGeneration = tokenGeneration
    }

    /// 32 random bytes as hex: end-user ids and browser secrets.
    public static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func browserHash(_ secret: String) -> String {
        Hex.encode(SHA256.hash(data: Data(("oauth-browser:" + secret).utf8)))
    }

    /// The signing key is derived from the JWT secret, so a state can never pass as a token or the reverse.
    static func key(_ secret: String) -> SymmetricKey {
        SymmetricKey(data: SHA256.hash(data: Data(("oauth-state:" + secret).utf8)))
    }

    public func signed(secret: String) throws -> String {
        let payload = try JSONEncoder().encode(self)
        let mac = HMAC<SHA256>.authenticationCode(for: payload, using: Self.key(secret))
        return Base64URL.encode(payload) + "." + Base64URL.encode(Data(mac))
    }

    /// A genuine, unexpired state issued to the browser holding `browserSecret`.
    public static func verify(_ text: String, secret: String, browserSecret: String?, now: Date = Date()) throws(Failure) -> OAuthState {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Base64URL.decode(parts[0]), let mac = Base64URL.decode(parts[1]) else {
            throw .malformed
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key(secret)) else {
            throw .badSignature
        }
        guard let state = try? JSONDecoder().decode(OAuthState.self, from: payload) else { throw .malformed }
        guard state.expiresAt > Int64(now.timeIntervalSince1970) else { throw .expired }
        guard let browserSecret, !browserSecret.isEmpty,
              constantTimeEqual(Array(browserHash(browserSecret).utf8), Array(state.browser.utf8)) else { throw .otherBrowser }
        return state
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

}

/// What Nango says of a connection, reduced to what proves it came from a state's connect flow.
public struct ConnectedConnection: Sendable, Equatable {
    public var integrationId: String
    public var connectionId: String
    public var endUserId: String?
    public var createdAt: Date?
    public var updatedAt: Date?

    public init(integrationId: String, connectionId: String, endUserId: String?, createdAt: Date?, updatedAt: Date?) {
        self.integrationId = integrationId
        self.connectionId = connectionId
        self.endUserId = endUserId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

extension OAuthState {
    /// Clocks differ between Nango and us by this much at most.
    public static let clockSkew: TimeInterval = 30

    /// From when a connection or its reconnect counts as this state's flow's.
    public var provenSince: Date { Date(timeIntervalSince1970: TimeInterval(issuedAt) - Self.clockSkew) }

    /// Whether `connection` is the one this state's flow made: a new connection carries our random end-user id and
    /// was created after the state; a reconnect is the state's company's own connection, re-authorised after the state
    /// as Nango's `override` auth webhook says (`overrideReceivedAt`: the latest one we stored for the connection). The
    /// connection's `updated_at` proves nothing: every credential refresh moves it.
    public func proves(
        _ connection: ConnectedConnection, reconnecting company: ConnectionIdentity?, overrideReceivedAt: Date? = nil
    ) -> Bool {
        guard connection.integrationId == integrationId else { return false }
        let since = provenSince
        if companyId != nil {
            guard let company, company.integrationId == connection.integrationId, company.connectionId == connection.connectionId,
                  let overridden = overrideReceivedAt else { return false }
            return overridden >= since
        }
        guard let owner = connection.endUserId, Self.constantTimeEqual(Array(owner.utf8), Array(endUserId.utf8)),
              let created = connection.createdAt else { return false }
        return created >= since
    }
}
