/// Lower-case hex of bytes, without `String(format:)` (which goes through CoreFoundation and was a
/// tenth of a sync's CPU when every record's content hash used it).
public enum Hex {
    @usableFromInline static let digits = Array("0123456789abcdef".utf8)

    /// Inlinable so callers in other modules get it specialized for their sequence (it runs per synced record).
    @inlinable public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}
