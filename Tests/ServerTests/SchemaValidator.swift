import Foundation
import MarketplaceCore
import Pipeline

/// Checks a JSON value against a JSON Schema of the OpenAPI document: the subset the document uses
/// (`$ref`, `type` (one or several), `properties`, `required`, `additionalProperties`, `items`, `enum`,
/// `format` uuid and date-time, `minimum`/`maximum`). Every mismatch is reported with its JSON path.
struct SchemaValidator {
    let document: JSONValue

    func errors(_ value: JSONValue, against schema: JSONValue, at path: String = "$") -> [String] {
        guard case .object(let schema) = schema else { return [] }
        if let reference = schema["$ref"]?.string {
            guard let resolved = resolve(reference) else { return ["\(path): unresolvable \(reference)"] }
            return errors(value, against: resolved, at: path)
        }
        var found: [String] = []
        if let types = schema["type"] {
            let allowed: [String] = switch types {
            case .string(let type): [type]
            case .array(let types): types.compactMap(\.string)
            default: []
            }
            guard allowed.contains(where: { matches(value, $0) }) else {
                return ["\(path): expected \(allowed.joined(separator: " or ")), found \(Self.kind(of: value))"]
            }
        }
        if case .array(let choices) = schema["enum"], !choices.contains(value) {
            found.append("\(path): \(value.jsonText) is not one of \(JSONValue.array(choices).jsonText)")
        }
        if case .string(let text) = value, let format = schema["format"]?.string {
            switch format {
            case "uuid" where UUID(uuidString: text) == nil: found.append("\(path): '\(text)' is not a uuid")
            case "date-time" where Timestamps.parse(text) == nil: found.append("\(path): '\(text)' is not a date-time")
            default: break
            }
        }
        if case .number(let number) = value {
            if case .number(let minimum) = schema["minimum"], number < minimum { found.append("\(path): below \(minimum)") }
            if case .number(let maximum) = schema["maximum"], number > maximum { found.append("\(path): above \(maximum)") }
        }
        if case .object(let object) = value {
            let properties = schema["properties"]?.object ?? [:]
            if case .array(let required) = schema["required"] {
                for name in required.compactMap(\.string) where object[name] == nil {
                    found.append("\(path): missing required '\(name)'")
                }
            }
            for (name, member) in object.sorted(by: { $0.key < $1.key }) {
                if let property = properties[name] {
                    found += errors(member, against: property, at: "\(path).\(name)")
                } else {
                    switch schema["additionalProperties"] {
                    case .bool(false)?: found.append("\(path): '\(name)' is not in the schema")
                    case .object(let additional)?: found += errors(member, against: .object(additional), at: "\(path).\(name)")
                    default: break
                    }
                }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (index, item) in items.enumerated() { found += errors(item, against: itemSchema, at: "\(path)[\(index)]") }
        }
        return found
    }

    private func resolve(_ reference: String) -> JSONValue? {
        guard reference.hasPrefix("#/") else { return nil }
        var node: JSONValue? = document
        for part in reference.dropFirst(2).split(separator: "/") { node = node?[String(part)] }
        return node
    }

    private func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number): true
        case ("integer", .number(let number)): number.rounded() == number
        default: false
        }
    }

    static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
