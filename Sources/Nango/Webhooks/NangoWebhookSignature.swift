import Crypto
import Foundation

/// Nango's webhook signatures over the raw body bytes, keyed with the environment's signing key
/// as UTF-8 text (docs/nango.md §1.2):
/// - `X-Nango-Hmac-Sha256`: HMAC-SHA256(key, body), lowercase hex;
/// - `X-Nango-Signature` (legacy): SHA-256(key ‖ body), lowercase hex.
public enum NangoWebhookSignature {
    public static let hmacHeader = "X-Nango-Hmac-Sha256"
    public static let legacyHeader = "X-Nango-Signature"

    public static func hmac(body: some DataProtocol, key: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(key.utf8)))
        return hex(code)
    }

    public static func legacy(body: some DataProtocol, key: String) -> String {
        var hasher = SHA256()
        hasher.update(data: Data(key.utf8))
        hasher.update(data: body)
        return hex(hasher.finalize())
    }

    /// Checks a hex signature in constant time (for equal lengths): decodes it and compares the bytes.
    public static func isValid(hmacHeader value: String, body: some DataProtocol, key: String) -> Bool {
        guard let given = bytes(hex: value) else { return false }
        let expected = Array(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(key.utf8))))
        return constantTimeEqual(given, expected)
    }

    public static func isValid(legacyHeader value: String, body: some DataProtocol, key: String) -> Bool {
        guard let given = bytes(hex: value), let expected = bytes(hex: legacy(body: body, key: key)) else { return false }
        return constantTimeEqual(given, expected)
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var output: [UInt8] = []
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let characters = Array(hex.utf8)
        guard characters.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var result: [UInt8] = []
        result.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = nibble(characters[index]), let low = nibble(characters[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }
}

/// Serialises a webhook body as Nango does: compact JSON, keys sorted at every level, `/` unescaped.
public enum NangoWebhookBody {
    public static func serialize(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}
