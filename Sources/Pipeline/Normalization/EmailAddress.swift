import MarketplaceCore
import Foundation

/// Email addresses as people type them: trimmed, `mailto:` and angle brackets dropped, domain lower-cased
/// (and IDN domains in punycode); the local part keeps its case, which the address's server owns.
public enum EmailAddress {
    /// Specials allowed in a dot-atom local part besides letters and digits of any script (RFC 5322, RFC 6531).
    static let localSpecials = Set("!#$%&'*+/=?^_`{|}~-".unicodeScalars)

    static func isValidLocal(_ local: String) -> Bool {
        if local.utf8.allSatisfy({ $0 < 0x80 }) { return isValidASCIILocal(local) }
        var previousDot = true   // no leading dot
        for scalar in local.unicodeScalars {
            if scalar == "." {
                if previousDot { return false }
                previousDot = true
                continue
            }
            previousDot = false
            let properties = scalar.properties
            guard properties.isAlphabetic || properties.numericType != nil || properties.generalCategory == .nonspacingMark
                || localSpecials.contains(scalar) else { return false }
        }
        return !previousDot   // no trailing dot
    }

    /// The same rule for an all-ASCII local part (nearly all of them), on bytes: no Unicode property lookups.
    static func isValidASCIILocal(_ local: String) -> Bool {
        var previousDot = true
        for byte in local.utf8 {
            if byte == UInt8(ascii: ".") {
                if previousDot { return false }
                previousDot = true
                continue
            }
            previousDot = false
            let isAlphanumeric = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
            guard isAlphanumeric || asciiLocalSpecials.contains(byte) else { return false }
        }
        return !previousDot
    }

    static let asciiLocalSpecials = Set("!#$%&'*+/=?^_`{|}~-".utf8)

    /// A DNS label: a–z, 0–9 and inner hyphens, at most 63 characters.
    static func isValidLabel(_ label: Substring) -> Bool {
        let bytes = Array(label.utf8)
        guard (1...63).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") }
    }

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case empty, noAt, several, badLocal, badDomain

        public var description: String {
            switch self {
            case .empty: return "is empty"
            case .noAt: return "has no '@'"
            case .several: return "has more than one '@'"
            case .badLocal: return "has an invalid part before '@'"
            case .badDomain: return "has an invalid domain"
            }
        }
    }

    public static func normalize(_ text: String) throws(Problem) -> String {
        var value = text.trimmedWhitespace
        if value.utf8.count >= 7, value.prefix(7).lowercased() == "mailto:" { value = String(value.dropFirst(7)) }
        if value.hasPrefix("<"), value.hasSuffix(">") { value = String(value.dropFirst().dropLast()) }
        guard !value.isEmpty else { throw .empty }
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count > 1 else { throw .noAt }
        guard parts.count == 2 else { throw .several }
        let local = String(parts[0]), rawDomain = String(parts[1]).lowercased()
        guard !local.isEmpty, local.count <= 64, isValidLocal(local) else { throw .badLocal }
        guard let domain = asciiDomain(rawDomain) else { throw .badDomain }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, domain.count <= 253, labels.allSatisfy(isValidLabel),
              labels.last!.count >= 2, !labels.last!.allSatisfy(\.isNumber) else { throw .badDomain }
        return local + "@" + domain
    }

    /// Punycode for international domains, through URLComponents' IDNA support.
    static func asciiDomain(_ domain: String) -> String? {
        if domain.allSatisfy(\.isASCII) { return domain }
        var components = URLComponents()
        components.scheme = "http"
        components.host = domain
        return components.encodedHost?.lowercased()
    }
}
