import MarketplaceCore
import Foundation

/// An exact amount and, when the text carried one, its currency.
public struct MoneyAmount: Sendable, Equatable {
    public var amount: Decimal
    public var currency: String?
}

/// Prices as providers send them: numbers, or text with symbols, codes, thousands separators and
/// decimal commas (`"$1,234.50"`, `"EUR 12,50"`, `"1.234,56 €"`).
public enum Money {
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    static let posix = Locale(identifier: "en_US_POSIX")

    public static func parse(_ text: String) throws(Problem) -> MoneyAmount {
        var rest = text.trimmedWhitespace
        guard !rest.isEmpty else { throw Problem(description: "is empty") }
        var currency: String?
        // A leading or trailing code or symbol.
        let letters = rest.prefix { !$0.isNumber && $0 != "-" && $0 != "+" && $0 != "." && $0 != "," }
        let trailing = String(rest.reversed().prefix { !$0.isNumber && $0 != "." && $0 != "," }.reversed())
        for marker in [String(letters), trailing] {
            let cleaned = marker.trimmedWhitespace
            guard !cleaned.isEmpty, cleaned != "-" else { continue }
            if cleaned == "$" { rest = rest.replacingOccurrences(of: "$", with: ""); continue }
            guard let code = CurrencyCodes.canonical(cleaned) else {
                throw Problem(description: "'\(text)' is not an amount")
            }
            currency = code
            rest = rest.replacingOccurrences(of: cleaned, with: "")
        }
        var number = rest.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "\u{00A0}", with: "")
            .replacingOccurrences(of: "'", with: "")
        let lastDot = number.lastIndex(of: "."), lastComma = number.lastIndex(of: ",")
        switch (lastDot, lastComma) {
        case let (dot?, comma?):
            // The later of the two is the decimal separator.
            if dot > comma {
                number = number.replacingOccurrences(of: ",", with: "")
            } else {
                number = number.replacingOccurrences(of: ".", with: "").replacingOccurrences(of: ",", with: ".")
            }
        case (nil, let comma?):
            // One comma followed by exactly three digits is a thousands separator ("1,234"); otherwise a decimal comma.
            let after = number[number.index(after: comma)...]
            if number.filter({ $0 == "," }).count > 1 || (after.count == 3 && number.count > 4) {
                number = number.replacingOccurrences(of: ",", with: "")
            } else {
                number = number.replacingOccurrences(of: ",", with: ".")
            }
        default:
            break
        }
        guard isPlainDecimal(number),
              let amount = Decimal(string: number, locale: posix) else {
            throw Problem(description: "'\(text)' is not an amount")
        }
        return MoneyAmount(amount: amount, currency: currency)
    }

    /// `[+-]?[0-9]+(\.[0-9]+)?`, checked by hand (once per amount of every sync).
    static func isPlainDecimal(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let parts = bytes.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(isDigit) else { return false }
        guard parts.count == 2 else { return true }
        return !parts[1].isEmpty && parts[1].allSatisfy(isDigit)
    }

    /// A JSON number as an exact decimal: through its shortest text form, so 49.99 stays 49.99.
    public static func decimal(_ number: Double) -> Decimal? {
        guard number.isFinite else { return nil }
        return Decimal(string: String(number), locale: posix)
    }
}
