/// Lower-case hex of bytes, without `String(format:)` (which goes through CoreFoundation and was a
/// tenth of a sync's CPU when every record's content hash used it).
public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension StringProtocol {
    /// Leading and trailing whitespace (and newlines) removed, in pure Swift: Foundation's
    /// `trimmingCharacters(in:)` bridges through NSString on Linux and is many times slower.
    public var trimmedWhitespace: String {
        // Most values have nothing to trim: answer without touching the scalars.
        let whole = String(self)
        if let first = whole.utf8.first, let last = whole.utf8.last, first > 0x20, first < 0x80, last > 0x20, last < 0x80 { return whole }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
