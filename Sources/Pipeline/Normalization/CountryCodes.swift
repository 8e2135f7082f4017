import MarketplaceCore
import Foundation

/// ISO 3166-1 alpha-2 from codes (alpha-2, alpha-3) or names in several languages, from Foundation's
/// locale data (CLDR) plus the common English aliases CLDR lacks.
public enum CountryCodes {
    /// Region codes Foundation knows that are not countries of ISO 3166-1.
    static let notCountries: Set<String> = ["EU", "EZ", "UN", "QO", "XA", "XB", "XK", "ZZ"]

    public static let alpha2Codes: Set<String> = Set(
        Locale.Region.isoRegions.map(\.identifier).filter { $0.count == 2 && $0.allSatisfy(\.isLetter) && !notCountries.contains($0) })

    static let languages = ["en", "de", "fr", "es", "it", "nl", "pt", "ja", "sv", "pl"]

    static let aliases: [String: String] = [
        "usa": "US", "us": "US", "u s": "US", "u s a": "US", "united states of america": "US", "america": "US",
        "uk": "GB", "u k": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
        "northern ireland": "GB", "holland": "NL", "the netherlands": "NL", "turkey": "TR", "uae": "AE", "russia": "RU",
        "russian federation": "RU", "czech republic": "CZ", "ivory coast": "CI", "burma": "MM", "south korea": "KR",
        "korea": "KR", "republic of korea": "KR", "north korea": "KP", "vietnam": "VN", "viet nam": "VN", "iran": "IR",
        "syria": "SY", "laos": "LA", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "moldova": "MD",
        "macedonia": "MK", "taiwan": "TW", "hong kong": "HK", "macau": "MO", "deutschland": "DE", "espana": "ES",
        "nederland": "NL", "brasil": "BR", "mexico": "MX", "schweiz": "CH", "suisse": "CH", "osterreich": "AT",
    ]

    /// Folded names (lower case, no diacritics or dots) to codes; built once, on first use (~20 ms).
    static let names: [String: String] = {
        var names: [String: String] = [:]
        for language in languages {
            let locale = Locale(identifier: language)
            for code in alpha2Codes {
                if let name = locale.localizedString(forRegionCode: code) { names[fold(name)] = code }
            }
        }
        for (alias, code) in aliases { names[alias] = code }
        return names
    }()

    static func fold(_ text: String) -> String {
        let folded = text.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil)
        let spaced = folded.map { $0 == "." || $0 == "," || $0 == "-" || $0 == "'" ? " " : $0 }
        return String(spaced).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// The alpha-2 code for `text`, or nil when it names no country.
    public static func alpha2(_ text: String) -> String? {
        let trimmed = text.trimmedWhitespace
        guard !trimmed.isEmpty else { return nil }
        let upper = trimmed.uppercased()
        if upper.count == 2, alpha2Codes.contains(upper) { return upper }
        if upper.count == 3, upper.allSatisfy({ $0.isASCII && $0.isLetter }) {
            if let region = Locale(identifier: "und_" + upper).region?.identifier, alpha2Codes.contains(region) { return region }
        }
        return names[fold(trimmed)]
    }
}

/// ISO 4217 currency codes, symbols and minor units.
public enum CurrencyCodes {
    public static let codes: Set<String> = Set(Locale.commonISOCurrencyCodes)

    /// Minor units that differ from 2 (ISO 4217); Foundation on Linux reports 2 for every currency.
    static let minorUnitExceptions: [String: Int] = {
        var units: [String: Int] = [:]
        for code in ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"] { units[code] = 0 }
        for code in ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"] { units[code] = 3 }
        for code in ["CLF", "UYW"] { units[code] = 4 }
        return units
    }()

    /// Symbols that name one currency; a bare `$` is ambiguous and leaves the currency to the pipeline.
    static let symbols: [String: String] = [
        "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS", "₫": "VND",
        "US$": "USD", "A$": "AUD", "AU$": "AUD", "C$": "CAD", "CA$": "CAD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD",
        "R$": "BRL", "MX$": "MXN",
    ]

    public static func minorUnits(_ code: String) -> Int { minorUnitExceptions[code] ?? 2 }

    /// The ISO code for a code (any case) or an unambiguous symbol.
    public static func canonical(_ text: String) -> String? {
        let trimmed = text.trimmedWhitespace.uppercased()
        if trimmed.count == 3, codes.contains(trimmed) || Locale.Currency(trimmed).isISOCurrency { return trimmed }
        return symbols[trimmed]
    }
}
