import Crypto
import Foundation

/// The `state` our callback verifies: which integration the user connects and for whom (the caller's
/// `connection_id`, carried to Nango as the end user), with an expiry, HMAC-SHA256 signed.
/// Format: `base64url(json).base64url(mac)`.
public struct OAuthState: Sendable, Equatable, Codable {
    public var integrationId: String
    public var reference: String
    public var expiresAt: Int64
    public var nonce: String

    enum CodingKeys: String, CodingKey {
        case integrationId = "i", reference = "r", expiresAt = "e", nonce = "n"
    }

    public enum Failure: Error, Sendable, Equatable {
        case malformed
        case badSignature
        case expired
    }

    public init(integrationId: String, reference: String, expiresAt: Date) {
        self.integrationId = integrationId
        self.reference = reference
        self.expiresAt = Int64(expiresAt.timeIntervalSince1970)
        self.nonce = UUID().uuidString
    }

    /// The signing key is derived from the JWT secret, so a state can never pass as a token or the reverse.
    static func key(_ secret: String) -> SymmetricKey {
        SymmetricKey(data: SHA256.hash(data: Data(("oauth-state:" + secret).utf8)))
    }

    public func signed(secret: String) throws -> String {
        let payload = try JSONEncoder().encode(self)
        let mac = HMAC<SHA256>.authenticationCode(for: payload, using: Self.key(secret))
        return Self.base64URL(payload) + "." + Self.base64URL(Data(mac))
    }

    public static func verify(_ text: String, secret: String, now: Date = Date()) throws(Failure) -> OAuthState {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = data(base64URL: parts[0]), let mac = data(base64URL: parts[1]) else {
            throw .malformed
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key(secret)) else {
            throw .badSignature
        }
        guard let state = try? JSONDecoder().decode(OAuthState.self, from: payload) else { throw .malformed }
        guard state.expiresAt > Int64(now.timeIntervalSince1970) else { throw .expired }
        return state
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func data(base64URL text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
