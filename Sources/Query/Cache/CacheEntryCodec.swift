import CompressNIO
import NIOCore

/// How a cached page is stored: a one-byte header, then the JSON as is, or zlib-compressed when it is larger than
/// the threshold. Pages are kept as bytes from Redis's reply to the socket: never re-read as text.
public enum CacheEntryCodec {
    static let plain: UInt8 = 0x00
    static let zlib: UInt8 = 0x01

    public static func encode(_ body: ByteBuffer, threshold: Int) -> [UInt8] {
        let bytes = Array(body.readableBytesView)
        guard bytes.count > threshold else { return [plain] + bytes }
        var input = body
        guard var compressed = try? input.compress(with: .zlib()), compressed.readableBytes < bytes.count else {
            return [plain] + bytes
        }
        return [zlib] + (compressed.readBytes(length: compressed.readableBytes) ?? [])
    }

    /// nil for an entry that is not one of ours or does not inflate: treated as a miss.
    public static func decode(_ bytes: [UInt8]) -> ByteBuffer? {
        guard let header = bytes.first else { return nil }
        switch header {
        case plain: return ByteBuffer(bytes: bytes.dropFirst())
        case zlib:
            var input = ByteBuffer(bytes: bytes.dropFirst())
            return try? input.decompress(with: .zlib(), maxSize: 64 << 20)
        default: return nil
        }
    }
}
