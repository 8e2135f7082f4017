import Storage
import Crypto
import Foundation
import MarketplaceCore

/// The normalize stage: values coerced to their field's type and normalized (emails, phones, countries, money, times).
extension RecordProcessor {
    struct Problem: Error {
        var message: String
        var isTypeMismatch = false
    }

    func region(for normalizerRegion: String?, regionFrom: TargetField?, values: [String: Working]) -> String? {
        if let regionFrom, case .typed(.text(let code))? = values[regionFrom.name] { return code }
        if let normalizerRegion { return normalizerRegion }
        if case .typed(.text(let code))? = values["address.country"] { return code }
        return pipeline.defaultRegion
    }

    func apply(_ normalizer: FieldNormalizer, to value: Working, values: [String: Working]) -> Result<(Working, String?), Problem> {
        let text: String?
        switch value {
        case .json(let json): text = Self.text(json)
        case .typed(let typed): text = typed.databaseText
        }
        switch normalizer.kind {
        case .trim:
            guard let text else { return .success((value, nil)) }
            return .success((.json(.string(text.split(whereSeparator: \.isWhitespace).joined(separator: " "))), nil))
        case .lowercase:
            return .success((text.map { .json(.string($0.lowercased())) } ?? value, nil))
        case .uppercase:
            return .success((text.map { .json(.string($0.uppercased())) } ?? value, nil))
        case .money:
            if case .json(.number(let number)) = value, let amount = Money.decimal(number) {
                return .success((.typed(.decimal(amount)), nil))
            }
            guard let text else { return .failure(Problem(message: "expected an amount", isTypeMismatch: true)) }
            do {
                let money = try Money.parse(text)
                return .success((.typed(.decimal(money.amount)), money.currency))
            } catch {
                return .failure(Problem(message: error.description, isTypeMismatch: true))
            }
        case .email, .e164, .country, .currency, .timestamp:
            guard case .json(let json) = value else { return .success((value, nil)) }
            return coerce(json, to: normalizer.field, values: values, kind: normalizer.kind).map { ($0.map(Working.typed) ?? value, nil) }
        }
    }

    /// A mapped value in its field's type: the field's own normalizer when the file names none.
    func coerce(_ json: JSONValue, to field: TargetField, values: [String: Working], kind: FieldNormalizer.Kind? = nil) -> Result<TargetValue?, Problem> {
        switch field.type {
        case .text:
            guard let text = Self.text(json) else {
                return .failure(Problem(message: "expected text, found \(Self.describe(json))", isTypeMismatch: true))
            }
            return .success(.text(text))
        case .email:
            guard let text = Self.text(json) else { return .failure(Problem(message: "expected an email address, found \(Self.describe(json))")) }
            do { return .success(.text(try EmailAddress.normalize(text))) } catch {
                return .failure(Problem(message: "'\(text)' \(error.description)"))
            }
        case .phone:
            guard let text = Self.text(json) else { return .failure(Problem(message: "expected a phone number, found \(Self.describe(json))")) }
            var explicitRegion: String?, regionFrom: TargetField?
            if case .e164(let region, let from)? = kind ?? pipeline.normalizers.first(where: { $0.field == field })?.kind {
                explicitRegion = region
                regionFrom = from
            }
            let region = region(for: explicitRegion, regionFrom: regionFrom, values: values)
            do { return .success(.text(try PhoneNumbers.e164(text, defaultRegion: region))) } catch {
                return .failure(Problem(message: "'\(text)' \(error.description)"))
            }
        case .country:
            guard let text = Self.text(json), let code = CountryCodes.alpha2(text) else {
                return .failure(Problem(message: "'\(Self.text(json) ?? Self.describe(json))' is not a known country"))
            }
            return .success(.text(code))
        case .currency:
            guard let text = Self.text(json), let code = CurrencyCodes.canonical(text) else {
                return .failure(Problem(message: "'\(Self.text(json) ?? Self.describe(json))' is not an ISO 4217 currency"))
            }
            return .success(.text(code))
        case .decimal:
            if case .number(let number) = json, let amount = Money.decimal(number) { return .success(.decimal(amount)) }
            guard let text = Self.text(json) else { return .failure(Problem(message: "expected a number, found \(Self.describe(json))", isTypeMismatch: true)) }
            do { return .success(.decimal(try Money.parse(text).amount)) } catch {
                return .failure(Problem(message: "expected a number, found '\(text)'", isTypeMismatch: true))
            }
        case .double:
            if case .number(let number) = json { return .success(.double(number)) }
            if let text = Self.text(json), let number = Double(text) { return .success(.double(number)) }
            return .failure(Problem(message: "expected a number, found \(Self.describe(json))", isTypeMismatch: true))
        case .boolean:
            if case .bool(let flag) = json { return .success(.boolean(flag)) }
            switch Self.text(json)?.lowercased() {
            case "true", "yes", "1", "y", "active": return .success(.boolean(true))
            case "false", "no", "0", "n", "inactive": return .success(.boolean(false))
            default: return .failure(Problem(message: "expected true or false, found \(Self.describe(json))", isTypeMismatch: true))
            }
        case .timestamp:
            if case .number(let number) = json { return .success(.timestamp(Date(timeIntervalSince1970: number > 1e12 ? number / 1000 : number))) }
            guard let text = Self.text(json), let date = Timestamps.parse(text) else {
                return .failure(Problem(message: "expected an ISO 8601 time, found \(Self.describe(json))", isTypeMismatch: true))
            }
            return .success(.timestamp(date))
        }
    }

    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number: return "a number"
        case .string(let text): return "'\(text)'"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}
