import Crypto
import Foundation
import NIOCore

/// Standard Webhooks signing (standard-webhooks/standard-webhooks, `spec/standard-webhooks.md`): the secret is
/// `whsec_` + base64 of random bytes; a signature is `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), and
/// several are sent space-separated while a rotation overlaps.
public enum WebhookSigner {
    public static let prefix = "whsec_"

    /// A new secret: 32 random bytes (the spec allows 24 to 64).
    public static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return prefix + Data(bytes).base64EncodedString()
    }

    /// The HMAC key inside a secret; nil when it is not `whsec_` + base64 of 24 to 64 bytes.
    public static func key(of secret: String) -> SymmetricKey? {
        guard secret.hasPrefix(prefix), let bytes = Data(base64Encoded: String(secret.dropFirst(prefix.count))),
              (24...64).contains(bytes.count) else { return nil }
        return SymmetricKey(data: bytes)
    }

    /// `v1,<base64 signature>` of one message attempt.
    public static func signature(id: String, timestamp: Int, body: String, key: SymmetricKey) -> String {
        signature(id: id, timestamp: timestamp, body: ByteBuffer(string: body), key: key)
    }

    /// The same over the body's bytes as stored and sent: no copy of the body is made to sign it.
    public static func signature(id: String, timestamp: Int, body: ByteBuffer, key: SymmetricKey) -> String {
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Array("\(id).\(timestamp).".utf8))
        body.withUnsafeReadableBytes { mac.update(data: $0) }
        return "v1," + Data(mac.finalize()).base64EncodedString()
    }

    /// The three headers of one attempt, signed with every key given (the current one first).
    public static func headers(id: String, timestamp: Int, body: ByteBuffer, keys: [SymmetricKey]) -> [(name: String, value: String)] {
        [
            ("webhook-id", id),
            ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", keys.map { signature(id: id, timestamp: timestamp, body: body, key: $0) }.joined(separator: " ")),
        ]
    }

    public static func headers(id: String, timestamp: Int, body: String, keys: [SymmetricKey]) -> [(name: String, value: String)] {
        headers(id: id, timestamp: timestamp, body: ByteBuffer(string: body), keys: keys)
    }

    /// A new message id: `msg_` and 32 hex digits.
    public static func newMessageId() -> String {
        var generator = SystemRandomNumberGenerator()
        return "msg_" + (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// A secret shown once and masked after: its prefix and last four characters.
    public static func masked(_ secret: String) -> String {
        prefix + "…" + String(secret.suffix(4))
    }
}
