import Crypto
import MarketplaceCore

/// A JSON answer and its strong ETag, computed once when the answer is built and cached beside it,
/// so a cache hit answers (or answers 304) without hashing the body again.
public struct CachedAnswer: Sendable, Equatable {
    public let body: String
    public let etag: String

    public init(body: String) {
        self.body = body
        self.etag = Self.etag(of: body)
    }

    /// `"<32 hex digits>"`: the first 128 bits of the body's SHA-256.
    public static func etag(of body: String) -> String {
        var body = body
        let digest = body.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        return "\"" + Hex.encode(digest.prefix(16)) + "\""
    }

    /// How it is kept in the cache: the ETag, a newline, the body.
    var stored: String { etag + "\n" + body }

    init?(stored: String) {
        guard let newline = stored.utf8.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        etag = String(stored[..<newline])
        body = String(stored[stored.index(after: newline)...])
    }
}
