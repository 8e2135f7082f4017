import MarketplaceCore
import Foundation

/// Email addresses as people type them: trimmed, `mailto:` and angle brackets dropped, domain lower-cased
/// (and IDN domains in punycode); the local part keeps its case, which the address's server owns.
public enum EmailAddress {
    /// Specials allowed in a dot-atom local part besides letters and digits of any script (RFC 5322, RFC 6531).
    static let localSpecials = Set("!#$%&'*+/=?^_`{|}~-".unicodeScalars)

    static func isValidLocal(_ local: String) -> Bool {
        if local.utf8.allSatisfy({ $0 < 0x80 }) { return isValidASCIILocal(local.utf8) }
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
    static func isValidASCIILocal(_ local: some Collection<UInt8>) -> Bool {
        var previousDot = true
        for byte in local {
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
        isValidLabel(Array(label.utf8)[...])
    }

    static func isValidLabel(_ bytes: ArraySlice<UInt8>) -> Bool {
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
        let value = text.trimmedWhitespace
        // Nearly every address is ASCII: read it as bytes, without String's Unicode work (counting characters,
        // lower-casing, splitting), which took a tenth of a sync's CPU when every email went through it twice.
        if value.utf8.allSatisfy({ $0 < 0x80 }) { return try normalizeASCII(value) }
        return try normalizeUnicode(value)
    }

    /// The same rules as ``normalizeUnicode(_:)``, for an ASCII address (trimmed), on its bytes.
    static func normalizeASCII(_ value: String) throws(Problem) -> String {
        var bytes = Array(value.utf8)[...]
        if bytes.count >= 7, zip(bytes.prefix(7), "mailto:".utf8).allSatisfy({ lowercased($0) == $1 }) { bytes = bytes.dropFirst(7) }
        if bytes.first == UInt8(ascii: "<"), bytes.last == UInt8(ascii: ">") { bytes = bytes.dropFirst().dropLast() }
        guard !bytes.isEmpty else { throw .empty }
        guard let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { throw .noAt }
        let local = bytes[..<at], domain = bytes[(at + 1)...].map(lowercased)
        guard !domain.contains(UInt8(ascii: "@")) else { throw .several }
        guard !local.isEmpty, local.count <= 64, isValidASCIILocal(local) else { throw .badLocal }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2, domain.count <= 253, labels.allSatisfy(isValidLabel),
              labels.last!.count >= 2, !labels.last!.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw .badDomain }
        return String(decoding: local, as: UTF8.self) + "@" + String(decoding: domain, as: UTF8.self)
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte
    }

    static func normalizeUnicode(_ text: String) throws(Problem) -> String {
        var value = text
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
