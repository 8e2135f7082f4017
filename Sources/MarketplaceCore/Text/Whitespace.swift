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
