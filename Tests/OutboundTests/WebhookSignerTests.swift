import Crypto
import Foundation
import Testing

@testable import Outbound

/// Standard Webhooks' signature, held against the specification's own example (standard-webhooks/standard-webhooks,
/// the libraries' shared test vector): secret, id, timestamp and body give exactly this signature.
@Suite struct WebhookSignerTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    @Test func theSpecificationsExampleSignsAsTheLibrariesExpect() throws {
        let key = try #require(WebhookSigner.key(of: Self.secret))
        let signature = WebhookSigner.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: #"{"test": 2432232314}"#, key: key)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func duringARotationBothSignaturesAreSentSpaceSeparated() throws {
        let old = try #require(WebhookSigner.key(of: Self.secret))
        let new = try #require(WebhookSigner.key(of: WebhookSigner.newSecret()))
        let headers = WebhookSigner.headers(id: "msg_1", timestamp: 1_614_265_330, body: "{}", keys: [new, old])
        #expect(headers.map(\.name) == ["webhook-id", "webhook-timestamp", "webhook-signature"])
        #expect(headers[0].value == "msg_1")
        #expect(headers[1].value == "1614265330")
        let signatures = headers[2].value.split(separator: " ")
        #expect(signatures.count == 2)
        #expect(signatures[1] == "v1,\(WebhookSigner.signature(id: "msg_1", timestamp: 1_614_265_330, body: "{}", key: old).dropFirst(3))")
    }

    @Test func secretsAreWhsecAndBase64OfTwentyFourToSixtyFourBytes() {
        let secret = WebhookSigner.newSecret()
        #expect(secret.hasPrefix("whsec_"))
        #expect(Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32)
        #expect(WebhookSigner.key(of: secret) != nil)
        #expect(WebhookSigner.key(of: "whsec_" + Data(repeating: 1, count: 16).base64EncodedString()) == nil, "too short")
        #expect(WebhookSigner.key(of: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == nil, "no prefix")
        #expect(WebhookSigner.key(of: "whsec_not base64!") == nil)
        #expect(WebhookSigner.masked(secret) == "whsec_…" + secret.suffix(4))
        #expect(WebhookSigner.newMessageId().count == 36)
        #expect(WebhookSigner.newMessageId() != WebhookSigner.newMessageId())
    }
}
