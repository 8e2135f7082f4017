import Nango

/// Which of Nango's signatures a delivery carries and whether it holds (docs/nango.md §1.2).
/// The HMAC header is checked when present; the legacy one only when configured and no HMAC was sent.
/// During a key rotation Nango keeps signing with the old key for a few minutes, so the previous key
/// (when configured) is tried after the current one, and the outcome says which one matched.
public struct WebhookSignatureCheck: Sendable {
    public enum Key: String, Sendable, Equatable { case current, previous }

    public enum Outcome: Sendable, Equatable {
        case valid(scheme: String, key: Key)
        case missing
        case invalid(scheme: String)
    }

    public let signingKey: String
    public let previousSigningKey: String?
    public let acceptsLegacy: Bool

    public init(signingKey: String, previousSigningKey: String? = nil, acceptsLegacy: Bool) {
        self.signingKey = signingKey
        self.previousSigningKey = previousSigningKey
        self.acceptsLegacy = acceptsLegacy
    }

    public func check(hmacHeader: String?, legacyHeader: String?, body: [UInt8]) -> Outcome {
        let keys: [(Key, String)] = [(.current, signingKey)] + (previousSigningKey.map { [(.previous, $0)] } ?? [])
        if let hmacHeader {
            for (which, key) in keys where NangoWebhookSignature.isValid(hmacHeader: hmacHeader, body: body, key: key) {
                return .valid(scheme: "hmac-sha256", key: which)
            }
            return .invalid(scheme: "hmac-sha256")
        }
        if acceptsLegacy, let legacyHeader {
            for (which, key) in keys where NangoWebhookSignature.isValid(legacyHeader: legacyHeader, body: body, key: key) {
                return .valid(scheme: "legacy-sha256", key: which)
            }
            return .invalid(scheme: "legacy-sha256")
        }
        return .missing
    }
}
