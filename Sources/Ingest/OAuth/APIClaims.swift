import Foundation
import JWTKit
import Synchronization

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
    let verified = VerifiedTokens()
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

    /// A token seen before (the same bytes, signature included) is not verified again until it expires:
    /// a client sends the same token with every request, and verifying is most of a cached read's cost.
    public func verify(_ token: String) async throws -> APIClaims {
        if let claims = verified.claims(for: token, now: Date()) { return claims }
        let claims = try await keys.verify(token, as: APIClaims.self)
        verified.remember(token, claims)
        return claims
    }
}

/// Tokens whose signature and claims were verified, until their `exp`. Bounded: when full, expired
/// entries go first, then everything (the next request of each client verifies once more).
final class VerifiedTokens: Sendable {
    static let capacity = 10_000
    private let entries = Mutex<[String: APIClaims]>([:])

    func claims(for token: String, now: Date) -> APIClaims? {
        entries.withLock { entries in
            guard let claims = entries[token] else { return nil }
            guard claims.exp.value > now else {
                entries[token] = nil
                return nil
            }
            return claims
        }
    }

    func remember(_ token: String, _ claims: APIClaims) {
        entries.withLock { entries in
            if entries.count >= Self.capacity {
                let now = Date()
                entries = entries.filter { $0.value.exp.value > now }
                if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[token] = claims
        }
    }
}
