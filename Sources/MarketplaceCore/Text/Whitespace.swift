extension StringProtocol {
    /// Leading and trailing whitespace (and newlines) removed, in pure Swift: Foundation's
    /// `trimmingCharacters(in:)` bridges through NSString on Linux and is many times slower.
    public var trimmedWhitespace: String {
        let whole = String(self)
        let bytes = whole.utf8
        // ASCII whitespace (nearly all of it) is trimmed on bytes; only an end that is not ASCII then needs the
        // scalars' Unicode properties.
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, isASCIIWhitespace(bytes[start]) { bytes.formIndex(after: &start) }
        while start < end, isASCIIWhitespace(bytes[bytes.index(before: end)]) { bytes.formIndex(before: &end) }
        guard start < end else { return "" }
        if bytes[start] < 0x80, bytes[bytes.index(before: end)] < 0x80 {
            return start == bytes.startIndex && end == bytes.endIndex ? whole : String(decoding: bytes[start..<end], as: UTF8.self)
        }
        let scalars = whole.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.index(after: scalars.lastIndex(where: { !$0.properties.isWhitespace })!)
        // Scalar boundaries: the bytes between them are whole UTF-8 sequences.
        return String(decoding: bytes[first..<last], as: UTF8.self)
    }
}

/// U+0009–U+000D and U+0020: the ASCII scalars with Unicode's White_Space property.
@inline(__always)
private func isASCIIWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
}
