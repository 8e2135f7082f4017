import MarketplaceCore
import Testing

@Suite struct WhitespaceTests {
    @Test(arguments: [
        ("ann@x.io", "ann@x.io"), ("  ann@x.io\t", "ann@x.io"), ("\r\n(415) 444-6538\u{0B}\u{0C}", "(415) 444-6538"), (" a b ", "a b"),
        ("   ", ""), ("", ""), ("\u{1F}x\u{1C}", "\u{1F}x\u{1C}"),
        // Unicode's other whitespace, at either end, and non-ASCII text that is not whitespace.
        ("\u{A0}Zoë\u{3000}", "Zoë"), ("\u{2028} x \u{85}", "x"), ("\u{2009}\u{A0}", ""), ("日本 ", "日本"), (" é", "é"),
        ("e\u{301}\u{200A}", "e\u{301}"), ("\u{FEFF}x", "\u{FEFF}x"),
    ])
    func trimsWhitespaceAtBothEnds(input: String, expected: String) {
        #expect(input.trimmedWhitespace == expected)
        #expect(input[...].trimmedWhitespace == expected)
    }
}
