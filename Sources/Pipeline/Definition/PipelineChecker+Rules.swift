import Storage
import Foundation
import MarketplaceCore
import Yams

/// The value stages: normalize, validate and dedupe, checked and built.
extension PipelineChecker {
    mutating func checkNormalize(_ node: Node, into stages: inout StagesBuilder) {
        guard let entries = pairs(node, "'normalize'") else { return }
        for entry in entries {
            guard let field = targetField(entry.keyNode, entry.key, schema: stages.schema) else { continue }
            if !stages.mappedNames.contains(field.name) {
                error(entry.keyNode, "'\(field.name)' is normalized but no map entry fills it")
            }
            var name: String?
            var options: [(key: String, keyNode: Node, value: Node)] = []
            var nameNode = entry.value
            switch entry.value {
            case .scalar(let scalar): name = scalar.string
            case .mapping(let mapping) where mapping.count == 1:
                let (key, value) = (mapping.first!.key, mapping.first!.value)
                name = key.scalar?.string
                nameNode = key
                if value.null == nil { options = pairs(value, "options of '\(name ?? "")'") ?? [] }
            default:
                error(entry.value, "normalizer of '\(field.name)' must be a name or '{name: {options}}'",
                      hint: "allowed: " + Self.normalizerNames.joined(separator: ", "))
                continue
            }
            guard let name, Self.normalizerNames.contains(name) else {
                error(nameNode, "unknown normalizer '\(name ?? "")' for '\(field.name)'",
                      hint: Spelling.hint(for: name ?? "", among: Self.normalizerNames))
                continue
            }
            if let kind = normalizerKind(name, nameNode: nameNode, options: options, field: field, schema: stages.schema, mapped: stages.mappedNames) {
                stages.normalizers.append(FieldNormalizer(field: field, kind: kind))
            }
        }
    }

    mutating func normalizerKind(
        _ name: String, nameNode: Node, options: [(key: String, keyNode: Node, value: Node)], field: TargetField,
        schema: TargetSchema, mapped: Set<String>
    ) -> FieldNormalizer.Kind? {
        let applies: [String: Set<TargetField.ValueType>] = [
            "trim": [.text, .email, .phone], "lowercase": [.text, .email], "uppercase": [.text, .country, .currency],
            "email": [.email, .text], "e164": [.phone], "iso3166_alpha2": [.country], "iso4217": [.currency],
            "money": [.decimal], "timestamp": [.timestamp],
        ]
        if let types = applies[name], !types.contains(field.type) {
            error(nameNode, "normalizer '\(name)' does not apply to '\(field.name)', a \(field.type.rawValue) field",
                  hint: "'\(name)' applies to " + types.map(\.rawValue).sorted().joined(separator: ", ") + " fields")
            return nil
        }
        let allowedOptions: [String: [String]] = ["e164": ["default_region", "region_from"], "money": ["currency_field", "default_currency"]]
        checkKeys(options, allowed: allowedOptions[name] ?? [], in: "options of '\(name)'")
        func option(_ key: String) -> Node? { options.first { $0.key == key }?.value }
        switch name {
        case "trim": return .trim
        case "email": return .email
        case "lowercase": return .lowercase
        case "uppercase": return .uppercase
        case "iso3166_alpha2": return .country
        case "iso4217": return .currency
        case "timestamp": return .timestamp
        case "e164":
            let region = option("default_region").flatMap { self.region($0, "default_region") }
            var regionFrom: TargetField?
            if let node = option("region_from"), let text = string(node, "region_from") {
                regionFrom = targetField(node, text, schema: schema)
                if let found = regionFrom, found.type != .country {
                    error(node, "region_from must name a country field, '\(found.name)' is \(found.type.rawValue)")
                    regionFrom = nil
                } else if let found = regionFrom, !mapped.contains(found.name) {
                    error(node, "region_from names '\(found.name)', which no map entry fills")
                }
            }
            return .e164(defaultRegion: region, regionFrom: regionFrom)
        case "money":
            var currencyField: TargetField?
            if let node = option("currency_field"), let text = string(node, "currency_field") {
                currencyField = targetField(node, text, schema: schema)
                if let found = currencyField, found.type != .currency {
                    error(node, "currency_field must name a currency field, '\(found.name)' is \(found.type.rawValue)")
                    currencyField = nil
                }
            }
            var defaultCurrency: String?
            if let node = option("default_currency"), let text = string(node, "default_currency") {
                if let code = CurrencyCodes.canonical(text) { defaultCurrency = code } else {
                    error(node, "default_currency must be an ISO 4217 code like USD or EUR, found '\(text)'")
                }
            }
            return .money(currencyField: currencyField, defaultCurrency: defaultCurrency)
        default:
            return nil
        }
    }

    mutating func checkValidate(_ node: Node, into stages: inout StagesBuilder) {
        guard let entries = pairs(node, "'validate'") else { return }
        var rules = ValidationRules()
        for entry in entries {
            if entry.key == "required" {
                guard let list = entry.value.sequence else {
                    error(entry.value, "'required' must be a list of target fields, found \(kind(entry.value))")
                    continue
                }
                for item in list {
                    guard let name = string(item, "a required field"), let field = targetField(item, name, schema: stages.schema) else { continue }
                    if !stages.mappedNames.contains(field.name) {
                        error(item, "'\(field.name)' is required but no map entry fills it")
                    }
                    rules.required.append(field)
                }
                continue
            }
            guard let field = targetField(entry.keyNode, entry.key, schema: stages.schema) else { continue }
            if !stages.mappedNames.contains(field.name) {
                error(entry.keyNode, "'\(field.name)' is validated but no map entry fills it")
            }
            var rule = ValidationRules.Rule()
            let formats = ValidationRules.Format.allCases.map(\.rawValue)
            if case .scalar(let scalar) = entry.value {
                rule.format = ValidationRules.Format(rawValue: scalar.string)
                if rule.format == nil {
                    error(entry.value, "unknown format '\(scalar.string)' for '\(field.name)'", hint: Spelling.hint(for: scalar.string, among: formats))
                    continue
                }
            } else if let parts = pairs(entry.value, "the rule of '\(field.name)'") {
                checkKeys(parts, allowed: Self.ruleKeys, in: "the rule of '\(field.name)'")
                for part in parts {
                    switch part.key {
                    case "format":
                        if let text = string(part.value, "format") {
                            rule.format = ValidationRules.Format(rawValue: text)
                            if rule.format == nil { error(part.value, "unknown format '\(text)'", hint: Spelling.hint(for: text, among: formats)) }
                        }
                    case "one_of":
                        if let list = part.value.sequence, !list.isEmpty {
                            rule.allowed = list.compactMap { string($0, "a value of one_of") }
                        } else {
                            error(part.value, "'one_of' must be a non-empty list of values")
                        }
                    case "min": rule.minimum = number(part.value, "min")
                    case "max": rule.maximum = number(part.value, "max")
                    case "min_length": rule.minLength = integer(part.value, "min_length", range: 0...1_000_000)
                    case "max_length": rule.maxLength = integer(part.value, "max_length", range: 1...1_000_000)
                    default: break
                    }
                }
                if let minimum = rule.minimum, let maximum = rule.maximum, minimum > maximum {
                    error(entry.value, "'min' is greater than 'max' for '\(field.name)'")
                }
                if (rule.minimum != nil || rule.maximum != nil), ![.decimal, .double].contains(field.type) {
                    error(entry.value, "'min'/'max' apply to number fields; '\(field.name)' is \(field.type.rawValue)",
                          hint: "use min_length/max_length for text")
                }
            }
            rules.rules.append((field: field, rule: rule))
        }
        stages.validation = rules
    }

    mutating func checkDedupe(_ node: Node, into stages: inout StagesBuilder) {
        guard let entries = pairs(node, "'dedupe'") else { return }
        checkKeys(entries, allowed: ["key"], in: "'dedupe'")
        guard let keyNode = entries.first(where: { $0.key == "key" })?.value else {
            error(node, "'dedupe' needs a 'key': a target field or a list of them")
            return
        }
        let names: [(String, Node)]
        if let list = keyNode.sequence {
            names = list.compactMap { item in string(item, "a dedupe key field").map { ($0, item) } }
        } else {
            names = string(keyNode, "the dedupe key").map { [($0, keyNode)] } ?? []
        }
        var fields: [TargetField] = []
        for (name, item) in names {
            guard let field = targetField(item, name, schema: stages.schema) else { continue }
            if !stages.mappedNames.contains(field.name) { error(item, "dedupe key '\(field.name)' is not filled by any map entry") }
            fields.append(field)
        }
        if !fields.isEmpty { stages.dedupeKey = fields }
    }
}
