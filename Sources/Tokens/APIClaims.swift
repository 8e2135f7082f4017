import Foundation
import JWTKit
import MarketplaceCore


/// The API's JWT claims (DESIGN.md "Tokens"): `sub`, `exp` (required), `iat`, optional `company_id`
/// (the token sees that company only) and `scope` (space-separated; `admin` sees every company).
public struct APIClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim
    public var companyId: String?
    public var scope: String?
    /// The company's token generation when issued: revoking a company's tokens moves its generation on.
    public var generation: Int?

    enum CodingKeys: String, CodingKey {
        case sub, exp, iat, scope
        case companyId = "company_id"
        case generation = "gen"
    }

    public init(subject: String, expiresAt: Date, issuedAt: Date = Date(), companyId: UUID?, scope: String?, generation: Int? = nil) {
        self.sub = SubjectClaim(value: subject)
        self.exp = ExpirationClaim(value: expiresAt)
        self.iat = IssuedAtClaim(value: issuedAt)
        self.companyId = companyId?.lowercasedString
        self.scope = scope
        self.generation = generation
    }

    /// Nothing beyond the signature here: ``TokenIssuer/verify(_:)`` checks `exp`, against its clock, for a token
    /// it verifies and for one it remembers alike (JWTKit would read the wall clock, which a test cannot move).
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}
