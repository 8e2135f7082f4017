import Foundation
import JWTKit

/// The API's JWT claims (DESIGN.md "Tokens"): `sub`, `exp` (required), `iat`, optional `company_id`
/// (the token sees that company only) and `scope` (space-separated; `admin` sees every company).
public struct APIClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim
    public var companyId: String?
    public var scope: String?

    enum CodingKeys: String, CodingKey {
        case sub, exp, iat, scope
        case companyId = "company_id"
    }

    public init(subject: String, expiresAt: Date, issuedAt: Date = Date(), companyId: UUID?, scope: String?) {
        self.sub = SubjectClaim(value: subject)
        self.exp = ExpirationClaim(value: expiresAt)
        self.iat = IssuedAtClaim(value: issuedAt)
        self.companyId = companyId?.uuidString.lowercased()
        self.scope = scope
    }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Signs and verifies the API's HS256 tokens with `JWT_SECRET`.
public struct TokenIssuer: Sendable {
    let keys: JWTKeyCollection
    public let lifetime: Duration

    public init(secret: String, lifetime: Duration) async {
        self.keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.lifetime = lifetime
    }

    /// A token that sees one company.
    public func companyToken(_ companyID: UUID, subject: String, now: Date = Date()) async throws -> String {
        try await keys.sign(APIClaims(
            subject: subject, expiresAt: now.addingTimeInterval(Double(lifetime / .seconds(1))), issuedAt: now,
            companyId: companyID, scope: "company"))
    }

    public func verify(_ token: String) async throws -> APIClaims {
        try await keys.verify(token, as: APIClaims.self)
    }
}
