import Nango

/// Which of Nango's signatures a delivery carries and whether it holds (NANGO.md 1.2).
/// The HMAC header is checked when present; the legacy one only when configured and no HMAC was sent.
public struct WebhookSignatureCheck: Sendable {
    public enum Outcome: Sendable, Equatable {
        case valid(scheme: String)
        case missing
        case invalid(scheme: String)
    }

    public let signingKey: String
    public let acceptsLegacy: Bool

    public init(signingKey: String, acceptsLegacy: Bool) {
        self.signingKey = signingKey
        self.acceptsLegacy = acceptsLegacy
    }

    public func check(hmacHeader: String?, legacyHeader: String?, body: [UInt8]) -> Outcome {
        if let hmacHeader {
            return NangoWebhookSignature.isValid(hmacHeader: hmacHeader, body: body, key: signingKey)
                ? .valid(scheme: "hmac-sha256") : .invalid(scheme: "hmac-sha256")
        }
        if acceptsLegacy, let legacyHeader {
            return NangoWebhookSignature.isValid(legacyHeader: legacyHeader, body: body, key: signingKey)
                ? .valid(scheme: "legacy-sha256") : .invalid(scheme: "legacy-sha256")
        }
        return .missing
    }
}
