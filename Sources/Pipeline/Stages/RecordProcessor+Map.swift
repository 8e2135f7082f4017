import Storage
import Crypto
import Foundation
import MarketplaceCore

/// The map stage: each target field's value taken from the record (paths, first non-empty, join, const).
extension RecordProcessor {
    enum Working {
        case json(JSONValue)
        case typed(TargetValue)

        var json: JSONValue? { if case .json(let value) = self { return value } else { return nil } }
        var typed: TargetValue? { if case .typed(let value) = self { return value } else { return nil } }
    }

    static func isEmpty(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return true
        case .string(let text): return text.allSatisfy(\.isWhitespace)
        case .array(let values): return values.isEmpty
        case .object(let object): return object.isEmpty
        default: return false
        }
    }

    static func text(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text):
            let trimmed = text.trimmedWhitespace
            return trimmed.isEmpty ? nil : trimmed
        case .number(let number):
            return number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): return flag ? "true" : "false"
        default: return nil
        }
    }

    func evaluate(_ source: FieldMapping.Source, on record: SourceRecord) -> JSONValue? {
        switch source {
        case .path(let path):
            // Not `flatMap { isEmpty($0) ? nil : $0 }`: JSONValue is ExpressibleByNilLiteral, so that nil is `.null`.
            guard let value = record.value(at: path), !Self.isEmpty(value) else { return nil }
            return value
        case .firstNonEmpty(let paths):
            for path in paths { if let value = record.value(at: path), !Self.isEmpty(value) { return value } }
            return nil
        case .join(let paths, let separator):
            let parts = paths.compactMap { record.value(at: $0).flatMap(Self.text) }
            guard !parts.isEmpty else { return nil }
            return JSONValue.string(parts.joined(separator: separator))
        case .constant(let value):
            guard !Self.isEmpty(value) else { return nil }
            return value
        }
    }
}
