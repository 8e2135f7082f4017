import Foundation
import JWTKit

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

    /// A token that sees one company, valid while the company's token generation stays `generation`.
    public func companyToken(_ companyID: UUID, subject: String, generation: Int = 0, now: Date = Date()) async throws -> String {
        try await keys.sign(APIClaims(
            subject: subject, expiresAt: now.addingTimeInterval(Double(lifetime / .seconds(1))), issuedAt: now,
            companyId: companyID, scope: "company", generation: generation))
    }

    /// The principal a bearer token names, or why it names none.
    public func principal(for token: String) async throws(TokenError) -> Principal {
        let claims: APIClaims
        do {
            claims = try await verify(token)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw .expired
        } catch {
            throw .invalid
        }
        var companyId: UUID?
        if let text = claims.companyId {
            guard let id = UUID(uuidString: text) else { throw .companyIdNotAUUID }
            companyId = id
        }
        let scopes = Set((claims.scope ?? "").split(separator: " ").map(String.init))
        return Principal(subject: claims.sub.value, companyId: companyId, isAdmin: scopes.contains("admin"), tokenGeneration: claims.generation ?? 0)
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

/// Why a bearer token names no principal; the HTTP edge answers 401 with these words.
public enum TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    case expired
    case invalid
    case companyIdNotAUUID

    public var description: String {
        switch self {
        case .expired: "the token has expired"
        case .invalid: "the token is not valid"
        case .companyIdNotAUUID: "the token's company_id is not a uuid"
        }
    }
}
