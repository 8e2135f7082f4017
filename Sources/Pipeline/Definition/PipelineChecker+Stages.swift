import Storage
import Foundation
import MarketplaceCore
import Yams

/// A pipeline's stage list and its map stage (source paths into target fields), checked and built.
extension PipelineChecker {
    mutating func stageName(_ node: Node) -> (String, Node, Node)? {
        guard let mapping = node.mapping, mapping.count == 1, let (key, value) = mapping.first.map({ ($0.key, $0.value) }),
              let name = key.scalar?.string else {
            error(node, "a stage must be a mapping with one key, the stage name", hint: "allowed: " + Self.stageNames.joined(separator: ", "))
            return nil
        }
        guard Self.stageNames.contains(name) else {
            error(key, "unknown stage '\(name)'", hint: Spelling.hint(for: name, among: Self.stageNames))
            return nil
        }
        return (name, key, value)
    }

    mutating func checkStages(_ node: Node, label: String, into stages: inout StagesBuilder) {
        guard let list = node.sequence else {
            error(node, "'stages' of \(label) must be a list, found \(kind(node))")
            return
        }
        var seen: [String: Node] = [:]
        for (index, item) in list.enumerated() {
            guard let (name, keyNode, value) = stageName(item) else { continue }
            if let earlier = seen[name] {
                error(keyNode, "stage '\(name)' appears twice in \(label)", hint: "merge it with the one on line \(earlier.mark?.line ?? 0)")
                continue
            }
            seen[name] = keyNode
            if name == "map", index != 0 { error(keyNode, "'map' must be the first stage of \(label)") }
            if name != "map", stages.mapping == nil, seen["map"] == nil {
                error(keyNode, "stage '\(name)' comes before 'map' in \(label)", hint: "stages run in order; 'map' fills the fields the others read")
            }
            switch name {
            case "map": checkMap(value, into: &stages)
            case "normalize": checkNormalize(value, into: &stages)
            case "validate": checkValidate(value, into: &stages)
            case "dedupe": checkDedupe(value, into: &stages)
            default: break
            }
        }
        if seen["map"] == nil {
            error(node, "\(label) has no 'map' stage", hint: "map target fields from the record, e.g. external_id: id")
        } else if stages.mapping != nil {
            for required in stages.schema.required where !stages.mappedNames.contains(required) {
                error(seen["map"], "\(label): target '\(stages.schema.kind.rawValue)' needs '\(required)', which no map entry fills")
            }
        }
    }

    mutating func targetField(_ node: Node, _ name: String, schema: TargetSchema) -> TargetField? {
        if let field = schema.field(name) { return field }
        error(node, "unknown field '\(name)' for target '\(schema.kind.rawValue)'", hint: Spelling.hint(for: name, among: schema.fields.map(\.name)))
        return nil
    }

    mutating func sourcePath(_ node: Node) -> SourcePath? {
        guard let text = string(node, "a source path") else { return nil }
        do {
            return try SourcePath(parsing: text)
        } catch {
            // Point at the character, past the opening quote when there is one.
            let quoted = node.scalar.map { $0.style == .singleQuoted || $0.style == .doubleQuoted } ?? false
            self.error(node, error.message, hint: "paths look like billing_city, mailing_address.city or phones[0].number",
                       columnOffset: error.offset + (quoted ? 1 : 0))
            return nil
        }
    }

    mutating func checkMap(_ node: Node, into stages: inout StagesBuilder) {
        guard let entries = pairs(node, "'map'") else { return }
        var fields: [(TargetField, FieldMapping.Source)] = []
        for entry in entries {
            guard let field = targetField(entry.keyNode, entry.key, schema: stages.schema) else { continue }
            let value = entry.value
            var source: FieldMapping.Source?
            switch value {
            case .scalar:
                source = sourcePath(value).map(FieldMapping.Source.path)
            case .sequence(let list):
                let paths = list.compactMap { sourcePath($0) }
                if list.isEmpty { error(value, "'\(entry.key)': an empty list of source paths") }
                if paths.count == list.count, !paths.isEmpty { source = .firstNonEmpty(paths) }
            case .mapping:
                source = checkMappingSource(value, field: entry.key)
            case .alias:
                error(value, "'\(entry.key)': aliases are not supported here")
            }
            if let source {
                fields.append((field, source))
                stages.mappedNames.insert(field.name)
            }
        }
        stages.mapping = FieldMapping(fields: fields.map { (field: $0.0, source: $0.1) })
    }

    mutating func checkMappingSource(_ node: Node, field: String) -> FieldMapping.Source? {
        guard let parts = pairs(node, "the source of '\(field)'") else { return nil }
        checkKeys(parts, allowed: ["const", "join", "separator"], in: "the source of '\(field)'")
        if let constant = parts.first(where: { $0.key == "const" })?.value {
            guard case .scalar(let scalar) = constant else {
                error(constant, "'const' of '\(field)' must be a single value, found \(kind(constant))")
                return nil
            }
            if scalar.style != .plain { return .constant(.string(scalar.string)) }
            if constant.null != nil { return .constant(.null) }
            if let bool = constant.bool { return .constant(.bool(bool)) }
            if let number = constant.float { return .constant(.number(number)) }
            return .constant(.string(scalar.string))
        }
        if let join = parts.first(where: { $0.key == "join" })?.value {
            guard let list = join.sequence, !list.isEmpty else {
                error(join, "'join' of '\(field)' must be a list of source paths")
                return nil
            }
            let paths = list.compactMap { sourcePath($0) }
            var separator = " "
            if let node = parts.first(where: { $0.key == "separator" })?.value {
                separator = node.scalar?.string ?? " "
            }
            return paths.count == list.count ? .join(paths, separator: separator) : nil
        }
        error(node, "the source of '\(field)' needs 'const' or 'join'", hint: "or give a path, or a list of paths (first non-empty wins)")
        return nil
    }
}
