import CompressNIO
import NIOCore

/// How a cached page is stored: a one-byte header, then the JSON as is, or zlib-compressed when it is
/// larger than the threshold (most pages of 50+ items compress to a fraction).
public enum CacheEntryCodec {
    static let plain: UInt8 = 0x00
    static let zlib: UInt8 = 0x01

    public static func encode(_ body: String, threshold: Int) -> [UInt8] {
        let bytes = Array(body.utf8)
        guard bytes.count > threshold else { return [plain] + bytes }
        var input = ByteBuffer(bytes: bytes)
        guard var compressed = try? input.compress(with: .zlib()), compressed.readableBytes < bytes.count else {
            return [plain] + bytes
        }
        return [zlib] + (compressed.readBytes(length: compressed.readableBytes) ?? [])
    }

    /// nil for an entry that is not one of ours or does not inflate: treated as a miss.
    public static func decode(_ bytes: [UInt8]) -> String? {
        guard let header = bytes.first else { return nil }
        switch header {
        case plain: return String(decoding: bytes.dropFirst(), as: UTF8.self)
        case zlib:
            var input = ByteBuffer(bytes: bytes.dropFirst())
            guard var output = try? input.decompress(with: .zlib(), maxSize: 64 << 20) else { return nil }
            return output.readString(length: output.readableBytes)
        default: return nil
        }
    }
}
