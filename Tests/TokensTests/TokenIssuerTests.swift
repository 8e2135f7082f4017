import Foundation
import JWTKit
import Testing
import TestSupport
import Tokens

/// Token issuance and verification, without sockets: a clock the test moves stands in for waiting.
@Suite struct TokenIssuerTests {
    static let secret = "test-jwt-secret-that-is-long-enough-0123456789"

    /// Verified tokens are remembered until they expire, never past it: the issuer's clock is moved past the expiry.
    @Test func aRememberedTokenStillExpires() async throws {
        let clock = MovableClock()
        let issuer = await TokenIssuer(secret: Self.secret, lifetime: .seconds(60), clock: clock.now)
        let token = try await issuer.companyToken(UUID(), subject: "short-lived")
        #expect(try await issuer.verify(token).sub.value == "short-lived")
        clock.advance(by: 59)
        #expect(try await issuer.verify(token).sub.value == "short-lived")   // remembered, a second before it expires
        // Past the expiry by a second: `exp` travels in whole seconds, and 59 + 1 need not add up to exactly 60.
        clock.advance(by: 2)
        await #expect(throws: TokenError.expired) { try await issuer.principal(for: token) }
        await #expect(throws: (any Error).self) { try await issuer.verify(token) }
        let tampered = String(token.dropLast(2)) + (token.hasSuffix("AA") ? "BB" : "AA")
        await #expect(throws: (any Error).self) { try await issuer.verify(tampered) }
    }

    /// A token names its company and the generation it was issued under; a token signed with another secret is refused.
    @Test func aCompanyTokenCarriesItsCompanyAndGeneration() async throws {
        let issuer = await TokenIssuer(secret: Self.secret, lifetime: .seconds(60))
        let company = UUID()
        let principal = try await issuer.principal(for: try await issuer.companyToken(company, subject: "connection:xero/c1", generation: 3))
        #expect(principal.companyId == company && principal.tokenGeneration == 3 && !principal.isAdmin)
        #expect(principal.subject == "connection:xero/c1")
        let stranger = await TokenIssuer(secret: "another-secret-that-is-long-enough-0123456789", lifetime: .seconds(60))
        await #expect(throws: TokenError.invalid) { try await issuer.principal(for: try await stranger.companyToken(company, subject: "x")) }
    }
}
