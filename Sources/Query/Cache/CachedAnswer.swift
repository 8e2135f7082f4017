import Crypto
import MarketplaceCore
import NIOCore

/// A JSON answer and its strong ETag, computed once when the answer is built and cached beside it,
/// so a cache hit answers (or answers 304) without hashing the body again. The body stays bytes: a hit goes from
/// Redis's reply to the socket without being read as text.
public struct CachedAnswer: Sendable, Equatable {
    public let body: ByteBuffer
    public let etag: String

    public init(body: String) {
        self.body = ByteBuffer(string: body)
        self.etag = Self.etag(of: self.body)
    }

    /// `"<32 hex digits>"`: the first 128 bits of the body's SHA-256.
    public static func etag(of body: ByteBuffer) -> String {
        let digest = body.withUnsafeReadableBytes { SHA256.hash(data: $0) }
        return "\"" + Hex.encode(digest.prefix(16)) + "\""
    }

    /// How it is kept in the cache: the ETag, a newline, the body.
    var stored: String { etag + "\n" + String(buffer: body) }

    init?(stored: ByteBuffer) {
        guard let newline = stored.readableBytesView.firstIndex(of: UInt8(ascii: "\n")),
              let etag = stored.getString(at: stored.readerIndex, length: newline - stored.readerIndex),
              let body = stored.getSlice(at: newline + 1, length: stored.writerIndex - newline - 1)
        else { return nil }
        self.etag = etag
        self.body = body
    }
}
