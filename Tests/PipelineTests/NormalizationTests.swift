import Foundation
import MarketplaceCore
import Testing

@testable import Pipeline

@Suite struct NormalizationTests {
    @Test(arguments: [
        (" Surf@Intuit.COM ", "Surf@intuit.com"), ("mailto:ANA@Example.ORG", "ANA@example.org"), ("<bob@example.com>", "bob@example.com"),
        ("jose@müller.example", "jose@xn--mller-kva.example"), ("Søren.Tanaka@Summit.EXAMPLE", "Søren.Tanaka@summit.example"),
        ("MAILTO:Jane.O'Neil+tag@Example.COM", "Jane.O'Neil+tag@example.com"), ("a{b}~c@x.io", "a{b}~c@x.io"),
    ])
    func emailsNormalize(input: String, expected: String) throws {
        #expect(try EmailAddress.normalize(input) == expected)
    }

    @Test(arguments: ["not-an-email", "bob@@example", "@nowhere", "rose at edge", "a@b", "a@example.123", "a b@example.com", "",
                      "jane(doe)@example.com", ".ana@x.io", "ana.@x.io", "an..a@x.io", "a\"b@x.io", "a,b@x.io", "mailto:"])
    func badEmailsAreRefused(input: String) {
        #expect(throws: EmailAddress.Problem.self) { try EmailAddress.normalize(input) }
    }

    @Test(arguments: [
        ("<>", EmailAddress.Problem.empty), ("mailto:", .empty), ("ab", .noAt), ("a@b@c.io", .several), ("@x.io", .badLocal),
        (String(repeating: "a", count: 65) + "@x.io", .badLocal), ("a@-x.io", .badDomain), ("a@x.c", .badDomain), ("a@x.10", .badDomain),
        ("a@x..io", .badDomain), ("a@x_y.io", .badDomain),
        // 254 characters of domain: one over the limit, though each label is valid.
        ("a@" + Array(repeating: String(repeating: "d", count: 62), count: 4).joined(separator: ".") + ".io", .badDomain),
    ] as [(String, EmailAddress.Problem)])
    func asciiEmailsAreRefusedForTheirReason(input: String, problem: EmailAddress.Problem) {
        #expect(throws: problem) { try EmailAddress.normalize(input) }
    }

    @Test func asciiEmailsReadAsBytesAgreeWithTheUnicodeRules() throws {
        #expect(try EmailAddress.normalize("mailto:<Ann.B@Mail.Example.COM>") == "Ann.B@mail.example.com")
        #expect(try EmailAddress.normalize(String(repeating: "a", count: 64) + "@x.io") == String(repeating: "a", count: 64) + "@x.io")
        let longest = [62, 62, 62, 61].map { String(repeating: "d", count: $0) }.joined(separator: ".") + ".io"   // 253
        #expect(try EmailAddress.normalize("a@" + longest) == "a@" + longest)
        // Every ASCII address the byte path reads must come out (or be refused) exactly as the general rules say.
        let pieces = ["a", "B", "z", "0", "9", ".", "@", "-", "<", ">", "mailto:", "MAILTO:", " ", "\"", "(", "+", "_", "xn--", "com",
                      "IO", "123", ",", "\r\n", "\t", "..", "@@", "~", "example", "%"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var valid = 0
        for _ in 0..<20_000 {
            func some(_ count: Int) -> String { (0..<count).map { _ in pieces[next(pieces.count)] }.joined() }
            // Half free-form, half shaped like an address (a part, an @, a domain, a dot and an ending), so that both
            // refusals and valid addresses are drawn.
            let text = (next(2) == 0 ? some(next(12))
                : ["", "mailto:", "<", " "][next(4)] + some(1 + next(3)) + "@" + some(1 + next(2)) + "." + ["com", "IO", "x", "12", "co-"][next(5)]
                    + ["", ">", " ", "\r\n"][next(4)]).trimmedWhitespace
            let bytes = Result { () throws(EmailAddress.Problem) in try EmailAddress.normalizeASCII(text) }
            let general = Result { () throws(EmailAddress.Problem) in try EmailAddress.normalizeUnicode(text) }
            #expect(bytes == general, "\(text.debugDescription)")
            if case .success = general { valid += 1 }
        }
        #expect(valid > 100, "the sample holds valid addresses too: \(valid)")
    }

    @Test(arguments: [
        ("(415) 444-6538", "US", "+14154446538"), ("+1 415 555 0199", nil, "+14155550199"), ("030 12345678", "DE", "+493012345678"),
        ("0049 30 12345678", nil, "+493012345678"), ("020 7946 0958", "GB", "+442079460958"), ("03-1234-5678", "JP", "+81312345678"),
    ] as [(String, String?, String)])
    func phonesToE164(input: String, region: String?, expected: String) throws {
        #expect(try PhoneNumbers.e164(input, defaultRegion: region) == expected)
    }

    @Test(arguments: [
        ("(415) 444-6538", "4154446538"), ("+1 415 555 0199", "+14155550199"), ("030 1234-5678", "03012345678"), ("415.555.0199", "4155550199"),
        ("123", "123"),
    ])
    func phonesWrittenWithDigitsAndSeparatorsAreReadAsDigits(input: String, digits: String) {
        #expect(PhoneNumbers.compacted(input) == digits)
    }

    @Test(arguments: ["415 555 0199 ext. 12", "1-2", "(+1) 415 555 0199", "415 555 0199 #7", "+1 415 555 O199", "٤١٥٥٥٥٠١٩٩", "12"])
    func phonesWithAnythingElseGoAsWritten(input: String) {
        #expect(PhoneNumbers.compacted(input) == nil)
    }

    @Test func phonesReadAsDigitsComeOutAsLibphonenumberReadsThemWritten() {
        // Every number the shortcut takes must come out (or be refused) exactly as libphonenumber reads its written form.
        let pieces = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "20", "415", "030", "0049", "+", " ", "-", "(", ")", ".", "  "]
        let regions: [String?] = ["US", "DE", "GB", "FR", "JP", "AU", "CA", "ES", "NL", "IT", "BR", "RU", nil]
        let shapes = ["(###) ###-####", "###-###-####", "+1 ### ### ####", "###.###.####", "0## ########", "+49 ## ########", "(0##) ####-####",
                      "0# ## ## ## ##", "+33 # ## ## ## ##", "0## #### ####", "+44 ## #### ####", "## ### ## ##", "(0#) #### ####", "0#-####-####",
                      "+81 #-####-####", "+39 0# ### ####", "8 (###) ###-##-##", "+7 ### ###-##-##", "1-###-###-####", "+1 1 ### ### ####"]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var (taken, valid) = (0, 0)
        for _ in 0..<6_000 {
            // Half free-form, half in the shapes providers send (each # a random digit).
            let prefix = ["", "+1 ", "+49 ", "+44 ", "(", "+", "0", "+39 0"][next(8)]
            let text = next(2) == 0 ? prefix + (0..<(4 + next(12))).map { _ in pieces[next(pieces.count)] }.joined()
                : String(shapes[next(shapes.count)].map { $0 == "#" ? Character(String(next(10))) : $0 })
            let region = regions[next(regions.count)]
            guard let digits = PhoneNumbers.compacted(text) else { continue }
            taken += 1
            let shortcut = Result { () throws(PhoneNumbers.Problem) in try PhoneNumbers.libphonenumber(digits, defaultRegion: region) }
            let written = Result { () throws(PhoneNumbers.Problem) in try PhoneNumbers.libphonenumber(text, defaultRegion: region) }
            #expect(shortcut == written, "\(text.debugDescription) in \(region ?? "no region")")
            if case .success = written { valid += 1 }
        }
        #expect(taken > 3_000, "most of the sample is digits and separators: \(taken)")
        #expect(valid > 300, "the sample holds valid numbers too: \(valid)")
    }

    @Test func phonesThatAreNotNumbersAreRefused() {
        #expect(throws: PhoneNumbers.Problem.notANumber) { try PhoneNumbers.e164("call me", defaultRegion: "US") }
        #expect(throws: PhoneNumbers.Problem.self) { try PhoneNumbers.e164("12", defaultRegion: "US") }
        // Without a country code and without a region there is nothing to read it by.
        #expect(throws: PhoneNumbers.Problem.self) { try PhoneNumbers.e164("(415) 444-6538", defaultRegion: nil) }
    }

    @Test(arguments: [
        ("US", "US"), ("usa", "US"), ("U.S.", "US"), ("United States", "US"), ("united states of america", "US"), ("DEU", "DE"),
        ("Deutschland", "DE"), ("Allemagne", "DE"), ("España", "ES"), ("Great Britain", "GB"), ("UK", "GB"), ("Holland", "NL"),
        ("日本", "JP"), ("Côte d’Ivoire", "CI"), (" france ", "FR"),
    ])
    func countriesToAlpha2(input: String, expected: String) {
        #expect(CountryCodes.alpha2(input) == expected)
    }

    @Test func unknownCountriesAreNil() {
        #expect(CountryCodes.alpha2("Atlantis") == nil)
        #expect(CountryCodes.alpha2("EU") == nil)
        #expect(CountryCodes.alpha2("") == nil)
    }

    @Test func currencies() {
        #expect(CurrencyCodes.canonical("usd") == "USD")
        #expect(CurrencyCodes.canonical("€") == "EUR")
        #expect(CurrencyCodes.canonical("XYZ") == nil)
        #expect(CurrencyCodes.minorUnits("JPY") == 0)
        #expect(CurrencyCodes.minorUnits("KWD") == 3)
        #expect(CurrencyCodes.minorUnits("EUR") == 2)
    }

    @Test(arguments: [
        ("12.5", "12.5", nil), ("$1,234.50", "1234.5", nil), ("EUR 12,50", "12.5", "EUR"), ("1.234,56 €", "1234.56", "EUR"),
        ("-3", "-3", nil), ("1,234", "1234", nil), ("0.10", "0.1", nil), ("US$ 49.99", "49.99", "USD"),
    ] as [(String, String, String?)])
    func moneyParses(input: String, amount: String, currency: String?) throws {
        let money = try Money.parse(input)
        #expect(money.amount == Decimal(string: amount, locale: Locale(identifier: "en_US_POSIX")))
        #expect(money.currency == currency)
    }

    @Test(arguments: ["twelve", "N/A", "", "12.3.4x"])
    func notMoney(input: String) {
        #expect(throws: Money.Problem.self) { try Money.parse(input) }
    }

    @Test func moneyFromNumbersStaysExact() {
        #expect(Money.decimal(49.99)?.description == "49.99")
        #expect(Money.decimal(0.1)?.description == "0.1")
    }

    @Test(arguments: [
        ("2026-03-31T16:49:28-07:00", 1_775_000_968.0), ("2026-02-25T16:23:49.023Z", 1_772_036_629.023),
        ("2026-05-01T07:25:37.000+0000", 1_777_620_337.0), ("2026-03-01", 1_772_323_200.0), ("1772323200", 1_772_323_200.0),
        ("1772323200000", 1_772_323_200.0), ("2026-05-05T10:08:49.123456+00:00", 1_777_975_729.123456),
    ])
    func timestampsToUTC(input: String, expected: Double) throws {
        let date = try #require(Timestamps.parse(input))
        #expect(abs(date.timeIntervalSince1970 - expected) < 0.0005)
    }

    @Test(arguments: ["yesterday", "2026-13-01", "2026-02-25T25:00:00Z", "2026-02-25T10:00:00+", "2026-02-25X"])
    func notTimestamps(input: String) {
        #expect(Timestamps.parse(input) == nil)
    }

    /// Microseconds, rounded to the nearest: what Postgres stores formats back to itself.
    @Test func timestampsFormatWithMicrosecondsRounded() throws {
        #expect(Timestamps.format(Date(timeIntervalSince1970: 1_700_000_000.123456)) == "2023-11-14T22:13:20.123456Z")
        #expect(Timestamps.format(Date(timeIntervalSince1970: 0.1229999999)) == "1970-01-01T00:00:00.123000Z")
        #expect(Timestamps.format(Date(timeIntervalSince1970: 59.9999996)) == "1970-01-01T00:01:00.000000Z")
        #expect(Timestamps.format(Date(timeIntervalSince1970: -1.5)) == "1969-12-31T23:59:58.500000Z")
        #expect(Timestamps.format(Date(timeIntervalSince1970: 4_102_444_800)) == "2100-01-01T00:00:00.000000Z")
        let stored = "2026-01-02T03:04:05.678901Z"
        #expect(Timestamps.format(try #require(Timestamps.parse(stored))) == stored)
    }
}

/// The hand-written checks that replaced per-record regular expressions, against the patterns they stand for.
@Suite struct PlainFormatChecksTests {
    @Test func e164IsAPlusThenSevenToFifteenDigitsNotStartingWithZero() {
        for valid in ["+14155550199", "+4930123456", "+1234567", "+123456789012345"] {
            #expect(RecordProcessor.isE164(valid), "\(valid)")
        }
        for invalid in ["14155550199", "+0415555019", "+123456", "+1234567890123456", "+1 415 555 0199", "+1415555O199", "", "+", "++14155550199", "+١٤١٥٥٥٥٠١٩٩"] {
            #expect(!RecordProcessor.isE164(invalid), "\(invalid)")
        }
    }

    @Test func plainDecimalsAreDigitsWithAnOptionalSignAndFraction() {
        for valid in ["0", "49", "49.99", "-3.5", "+12", "007.10"] {
            #expect(Money.isPlainDecimal(valid), "\(valid)")
        }
        for invalid in ["", "+", "-", ".5", "5.", "1.2.3", "1e5", "12a", " 12", "1,5", "--1", "٣"] {
            #expect(!Money.isPlainDecimal(invalid), "\(invalid)")
        }
    }
}
