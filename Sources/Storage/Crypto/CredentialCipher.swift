import MarketplaceCore
import Crypto
import Foundation

/// Seals OAuth tokens for storage with AES-256-GCM under `TOKEN_ENCRYPTION_KEY`: a fresh random nonce
/// per seal, stored as nonce ‖ ciphertext ‖ tag. Opening fails loudly on any tampering.
public struct CredentialCipher: Sendable {
    private let key: SymmetricKey

    public enum Failure: Error, Sendable, Equatable {
        case invalidKey
        case cannotOpen
    }

    /// `base64Key` decodes to 32 bytes (configuration has checked it).
    public init(base64Key: String) throws(Failure) {
        guard let bytes = Data(base64Encoded: base64Key), bytes.count == 32 else { throw .invalidKey }
        self.key = SymmetricKey(data: bytes)
    }

    public func seal(_ plaintext: String) throws -> [UInt8] {
        guard let combined = try AES.GCM.seal(Data(plaintext.utf8), using: key, nonce: AES.GCM.Nonce()).combined else {
            throw Failure.cannotOpen
        }
        return Array(combined)
    }

    public func open(_ sealed: [UInt8]) throws(Failure) -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return String(decoding: try AES.GCM.open(box, using: key), as: UTF8.self)
        } catch {
            throw .cannotOpen
        }
    }

    /// A short, non-reversible tag to tell tokens apart in admin views.
    public static func fingerprint(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Data(token.utf8)).prefix(6))
    }
}
