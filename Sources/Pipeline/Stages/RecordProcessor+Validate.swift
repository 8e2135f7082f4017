import Storage
import Crypto
import Foundation
import MarketplaceCore

/// The validate stage: required fields and each field's rules; every failed rule is a reason kept.
extension RecordProcessor {
    func validate(_ values: [String: Working], problems: [String: String]) -> [QuarantineReason] {
        var reasons: [QuarantineReason] = []
        let rules = pipeline.validation
        for field in rules.required where values[field.name]?.typed == nil {
            reasons.append(QuarantineReason(field: field.name, message: problems[field.name] ?? "is required but empty"))
        }
        for (field, rule) in rules.rules {
            if let problem = problems[field.name] {
                if !reasons.contains(where: { $0.field == field.name }) { reasons.append(QuarantineReason(field: field.name, message: problem)) }
                continue
            }
            guard let value = values[field.name]?.typed else { continue }
            let text = value.databaseText
            if let format = rule.format, !Self.matches(format, text) {
                reasons.append(QuarantineReason(field: field.name, message: "'\(text)' is not a valid \(format.rawValue)"))
            }
            if let allowed = rule.allowed, !allowed.contains(text) {
                reasons.append(QuarantineReason(field: field.name, message: "'\(text)' is not one of " + allowed.joined(separator: ", ")))
            }
            let number: Double? = switch value {
            case .decimal(let d): NSDecimalNumber(decimal: d).doubleValue
            case .double(let d): d
            default: nil
            }
            if let number, let minimum = rule.minimum, number < minimum {
                reasons.append(QuarantineReason(field: field.name, message: "\(text) is below the minimum \(minimum)"))
            }
            if let number, let maximum = rule.maximum, number > maximum {
                reasons.append(QuarantineReason(field: field.name, message: "\(text) is above the maximum \(maximum)"))
            }
            if let minLength = rule.minLength, text.count < minLength {
                reasons.append(QuarantineReason(field: field.name, message: "is shorter than \(minLength) characters"))
            }
            if let maxLength = rule.maxLength, text.count > maxLength {
                reasons.append(QuarantineReason(field: field.name, message: "is longer than \(maxLength) characters"))
            }
        }
        return reasons
    }

    /// `+`, a digit 1–9, then 6 to 14 more digits (E.164: at most 15 digits). Checked by hand: a regular expression
    /// here ran once per record of every sync.
    static func isE164(_ text: String) -> Bool {
        let bytes = text.utf8
        guard bytes.count >= 8, bytes.count <= 16, bytes.first == UInt8(ascii: "+") else { return false }
        let digits = bytes.dropFirst()
        return digits.first != UInt8(ascii: "0") && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    static func matches(_ format: ValidationRules.Format, _ text: String) -> Bool {
        switch format {
        case .email: return (try? EmailAddress.normalize(text)) == text
        case .e164: return isE164(text)
        case .country: return CountryCodes.alpha2Codes.contains(text)
        case .currency: return CurrencyCodes.canonical(text) == text
        case .url:
            guard let url = URLComponents(string: text.contains("://") ? text : "https://" + text) else { return false }
            return url.host.map { $0.contains(".") } ?? false
        case .uuid: return UUID(uuidString: text) != nil
        }
    }
}
