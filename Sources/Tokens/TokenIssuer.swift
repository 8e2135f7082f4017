import Foundation
import JWTKit

/// Signs and verifies the API's HS256 tokens with `JWT_SECRET`.
public struct TokenIssuer: Sendable {
    let keys: JWTKeyCollection
    let verified = VerifiedTokens()
    public let lifetime: Duration
    /// The time tokens are issued at and expire by: the wall clock, or one a test moves past an expiry.
    let clock: @Sendable () -> Date

    public init(secret: String, lifetime: Duration, clock: @escaping @Sendable () -> Date = { Date() }) async {
        self.keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.lifetime = lifetime
        self.clock = clock
    }

    /// A token that sees one company, valid while the company's token generation stays `generation`.
    public func companyToken(_ companyID: UUID, subject: String, generation: Int = 0, now: Date? = nil) async throws -> String {
        let now = now ?? clock()
        return try await keys.sign(APIClaims(
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
    /// Both ways, the expiry is read against `clock`, once (``APIClaims`` leaves it to this).
    public func verify(_ token: String) async throws -> APIClaims {
        let now = clock()
        if let claims = verified.claims(for: token, now: now) { return claims }
        let claims = try await keys.verify(token, as: APIClaims.self)
        try claims.exp.verifyNotExpired(currentDate: now)
        verified.remember(token, claims, now: now)
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
