import Foundation

/// Email addresses as people type them: trimmed, `mailto:` and angle brackets dropped, domain lower-cased
/// (and IDN domains in punycode); the local part keeps its case, which the address's server owns.
public enum EmailAddress {
    /// Dot-atom, with letters from any script (RFC 6531: `søren@…`, `maría@…` are deliverable addresses).
    static let localPattern = try! NSRegularExpression(pattern: "^[\\p{L}\\p{M}\\p{N}!#$%&'*+/=?^_`{|}~-]+(\\.[\\p{L}\\p{M}\\p{N}!#$%&'*+/=?^_`{|}~-]+)*$")
    static let labelPattern = try! NSRegularExpression(pattern: "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

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
        var value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if value.lowercased().hasPrefix("mailto:") { value = String(value.dropFirst(7)) }
        if value.hasPrefix("<"), value.hasSuffix(">") { value = String(value.dropFirst().dropLast()) }
        guard !value.isEmpty else { throw .empty }
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count > 1 else { throw .noAt }
        guard parts.count == 2 else { throw .several }
        let local = String(parts[0]), rawDomain = String(parts[1]).lowercased()
        guard !local.isEmpty, local.count <= 64, matches(localPattern, local) else { throw .badLocal }
        guard let domain = asciiDomain(rawDomain) else { throw .badDomain }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, domain.count <= 253, labels.allSatisfy({ matches(labelPattern, String($0)) }),
              labels.last!.count >= 2, !labels.last!.allSatisfy(\.isNumber) else { throw .badDomain }
        return local + "@" + domain
    }

    static func matches(_ pattern: NSRegularExpression, _ text: String) -> Bool {
        pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
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
