import Storage
import Crypto
import Foundation
import MarketplaceCore
import Yams

/// Reads `pipelines.yaml` and checks all of it: every problem is reported, with its line and column.
public enum PipelineLoader {
    public static func load(path: String) throws(PipelineFileErrors) -> PipelineSet {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PipelineFileErrors(diagnostics: [
                PipelineDiagnostic(file: path, line: 1, column: 1, message: "cannot read the pipelines file: \(error.localizedDescription)", hint: nil),
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineFileErrors(diagnostics: [
                PipelineDiagnostic(file: path, line: 1, column: 1, message: "the pipelines file is not UTF-8 text", hint: nil),
            ])
        }
        return try parse(yaml: text, path: path)
    }

    public static func parse(yaml: String, path: String) throws(PipelineFileErrors) -> PipelineSet {
        var checker = PipelineChecker(file: path)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw PipelineFileErrors(diagnostics: [checker.syntaxDiagnostic(error)])
        }
        guard let root else {
            throw PipelineFileErrors(diagnostics: [
                PipelineDiagnostic(file: path, line: 1, column: 1, message: "the pipelines file is empty", hint: "it needs 'version: 1' and a 'pipelines' list"),
            ])
        }
        let hash = Hex.encode(SHA256.hash(data: Data(yaml.utf8)))
        let set = checker.checkFile(root, hash: hash)
        if let set, checker.diagnostics.isEmpty { return set }
        throw PipelineFileErrors(diagnostics: checker.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
    }
}

/// The checks, collecting diagnostics as it walks the document.
struct PipelineChecker {
    let file: String
    var diagnostics: [PipelineDiagnostic] = []

    static let topKeys = ["version", "defaults", "pipelines"]
    static let defaultsKeys = ["page_size", "retry", "default_region"]
    static let retryKeys = ["max_attempts", "initial_backoff", "max_backoff"]
    static let pipelineKeys = ["name", "source", "target", "stages", "enabled", "page_size", "retry", "default_region"]
    static let sourceKeys = ["integration", "model"]
    static let stageNames = ["map", "normalize", "validate", "dedupe"]
    static let normalizerNames = ["trim", "email", "e164", "iso3166_alpha2", "iso4217", "money", "timestamp", "lowercase", "uppercase"]
    static let ruleKeys = ["format", "one_of", "min", "max", "min_length", "max_length"]

    init(file: String) { self.file = file }

    // MARK: Reporting

    mutating func error(_ node: Node?, _ message: String, hint: String? = nil, columnOffset: Int = 0) {
        let mark = node?.mark
        diagnostics.append(PipelineDiagnostic(
            file: file, line: mark?.line ?? 1, column: (mark?.column ?? 1) + columnOffset, message: message, hint: hint))
    }

    func syntaxDiagnostic(_ error: any Error) -> PipelineDiagnostic {
        guard let yamlError = error as? YamlError else {
            return PipelineDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)", hint: nil)
        }
        switch yamlError {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return PipelineDiagnostic(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)", hint: nil)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return PipelineDiagnostic(
                file: file, line: context.mark.line, column: context.mark.column,
                message: "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in this mapping", hint: "each key may appear once")
        default:
            return PipelineDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(yamlError)", hint: nil)
        }
    }

    // MARK: Shapes

    /// The pairs of a mapping whose keys are plain strings; reports anything else.
    mutating func pairs(_ node: Node, _ what: String) -> [(key: String, keyNode: Node, value: Node)]? {
        guard let mapping = node.mapping else {
            error(node, "\(what) must be a mapping, found \(kind(node))")
            return nil
        }
        var result: [(String, Node, Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                error(key, "keys of \(what) must be plain names")
                continue
            }
            result.append((name, key, value))
        }
        return result
    }

    mutating func checkKeys(_ pairs: [(key: String, keyNode: Node, value: Node)], allowed: [String], in what: String) {
        for pair in pairs where !allowed.contains(pair.key) {
            error(pair.keyNode, "unknown key '\(pair.key)' in \(what)", hint: Spelling.hint(for: pair.key, among: allowed))
        }
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let scalar): return scalar.string.isEmpty ? "nothing" : "'\(scalar.string)'"
        case .alias: return "an alias"
        }
    }

    mutating func string(_ node: Node, _ what: String) -> String? {
        guard case .scalar(let scalar) = node, node.null == nil || scalar.style != .plain else {
            error(node, "\(what) must be a string, found \(kind(node))")
            return nil
        }
        guard !scalar.string.trimmedWhitespace.isEmpty else {
            error(node, "\(what) must not be empty")
            return nil
        }
        return scalar.string
    }

    mutating func integer(_ node: Node, _ what: String, range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = node.int else {
            error(node, "\(what) must be a whole number, found \(kind(node))")
            return nil
        }
        guard range.contains(value) else {
            error(node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    mutating func boolean(_ node: Node, _ what: String) -> Bool? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = node.bool else {
            error(node, "\(what) must be true or false, found \(kind(node))")
            return nil
        }
        return value
    }

    mutating func number(_ node: Node, _ what: String) -> Double? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = node.float else {
            error(node, "\(what) must be a number, found \(kind(node))")
            return nil
        }
        return value
    }

    /// `500ms`, `2s`, `10m`, `1h`.
    mutating func duration(_ node: Node, _ what: String) -> Duration? {
        guard let text = node.scalar?.string else {
            error(node, "\(what) must be a duration like 2s, 500ms, 10m or 1h, found \(kind(node))")
            return nil
        }
        let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        for (unit, milliseconds) in units where text.hasSuffix(unit) {
            if let value = Int64(text.dropLast(unit.count)), value > 0 { return .milliseconds(value * milliseconds) }
        }
        error(node, "\(what) must be a duration like 2s, 500ms, 10m or 1h, found '\(text)'")
        return nil
    }

    mutating func region(_ node: Node, _ what: String) -> String? {
        guard let text = string(node, what) else { return nil }
        guard let code = CountryCodes.alpha2(text), code == text.uppercased() else {
            error(node, "\(what) must be an ISO 3166-1 alpha-2 country code like US or DE, found '\(text)'")
            return nil
        }
        return code
    }

    // MARK: The file

    mutating func checkFile(_ root: Node, hash: String) -> PipelineSet? {
        guard let top = pairs(root, "the pipelines file") else { return nil }
        checkKeys(top, allowed: Self.topKeys, in: "the pipelines file")
        var version: Int?
        if let node = top.first(where: { $0.key == "version" })?.value {
            version = integer(node, "version", range: 1...Int.max)
            if let found = version, found != 1 {
                error(node, "unsupported version \(found)", hint: "this release reads version 1")
                version = nil
            }
        } else {
            error(root, "missing 'version'", hint: "add 'version: 1' at the top")
        }
        var defaults = PipelineDefaults.standard
        if let node = top.first(where: { $0.key == "defaults" })?.value {
            defaults = checkDefaults(node)
        }
        var pipelines: [PipelineDefinition] = []
        if let node = top.first(where: { $0.key == "pipelines" })?.value {
            guard let list = node.sequence else {
                error(node, "'pipelines' must be a list of pipelines, found \(kind(node))")
                return nil
            }
            var names: [String: Node] = [:]
            for item in list {
                if let pipeline = checkPipeline(item, defaults: defaults) {
                    if let first = names[pipeline.name] {
                        let line = first.mark?.line ?? 0
                        error(item.mapping?.first { $0.key.scalar?.string == "name" }?.value ?? item,
                              "duplicate pipeline name '\(pipeline.name)'", hint: "first defined on line \(line)")
                    } else {
                        names[pipeline.name] = item.mapping?.first { $0.key.scalar?.string == "name" }?.value ?? item
                        pipelines.append(pipeline)
                    }
                }
            }
            if list.isEmpty { error(node, "'pipelines' is empty", hint: "declare at least one pipeline") }
        } else {
            error(root, "missing 'pipelines'", hint: "add a 'pipelines:' list")
        }
        guard let version else { return nil }
        return PipelineSet(version: version, defaults: defaults, pipelines: pipelines, hash: hash, path: file)
    }

    mutating func checkDefaults(_ node: Node) -> PipelineDefaults {
        var defaults = PipelineDefaults.standard
        guard let entries = pairs(node, "'defaults'") else { return defaults }
        checkKeys(entries, allowed: Self.defaultsKeys, in: "'defaults'")
        for entry in entries {
            switch entry.key {
            case "page_size": defaults.pageSize = integer(entry.value, "page_size", range: 1...10_000) ?? defaults.pageSize
            case "retry": defaults.retry = checkRetry(entry.value, base: defaults.retry)
            case "default_region": defaults.defaultRegion = region(entry.value, "default_region")
            default: break
            }
        }
        return defaults
    }

    mutating func checkRetry(_ node: Node, base: RetryPolicy) -> RetryPolicy {
        var retry = base
        guard let entries = pairs(node, "'retry'") else { return retry }
        checkKeys(entries, allowed: Self.retryKeys, in: "'retry'")
        for entry in entries {
            switch entry.key {
            case "max_attempts": retry.maxAttempts = integer(entry.value, "max_attempts", range: 1...100) ?? retry.maxAttempts
            case "initial_backoff": retry.initialBackoff = duration(entry.value, "initial_backoff") ?? retry.initialBackoff
            case "max_backoff": retry.maxBackoff = duration(entry.value, "max_backoff") ?? retry.maxBackoff
            default: break
            }
        }
        if retry.maxBackoff < retry.initialBackoff {
            error(node, "max_backoff is shorter than initial_backoff")
        }
        return retry
    }

    mutating func checkPipeline(_ node: Node, defaults: PipelineDefaults) -> PipelineDefinition? {
        guard let entries = pairs(node, "a pipeline") else { return nil }
        let nameNode = entries.first { $0.key == "name" }?.value
        let name = nameNode.flatMap { string($0, "the pipeline name") }
        let label = name.map { "pipeline '\($0)'" } ?? "a pipeline"
        checkKeys(entries, allowed: Self.pipelineKeys, in: label)
        if nameNode == nil { error(node, "\(label) has no 'name'") }
        if let name, let nameNode, name.range(of: "^[a-z0-9][a-z0-9_-]*$", options: .regularExpression) == nil {
            error(nameNode, "pipeline name '\(name)' may hold only lower-case letters, digits, '-' and '_'")
        }

        var source: PipelineSource?
        if let sourceNode = entries.first(where: { $0.key == "source" })?.value {
            if let parts = pairs(sourceNode, "'source' of \(label)") {
                checkKeys(parts, allowed: Self.sourceKeys, in: "'source' of \(label)")
                let integration = parts.first { $0.key == "integration" }.flatMap { string($0.value, "source integration") }
                let model = parts.first { $0.key == "model" }.flatMap { string($0.value, "source model") }
                if !parts.contains(where: { $0.key == "integration" }) { error(sourceNode, "'source' of \(label) needs 'integration' (Nango's provider config key)") }
                if !parts.contains(where: { $0.key == "model" }) { error(sourceNode, "'source' of \(label) needs 'model'") }
                if let integration, let model { source = PipelineSource(integration: integration, model: model) }
            }
        } else {
            error(node, "\(label) has no 'source'", hint: "source: { integration: quickbooks, model: Customer }")
        }

        var target: Resource?
        if let targetNode = entries.first(where: { $0.key == "target" })?.value {
            if let text = string(targetNode, "target") {
                target = Resource(rawValue: text)
                if target == nil {
                    error(targetNode, "unknown target '\(text)'", hint: Spelling.hint(for: text, among: Resource.allCases.map(\.rawValue)))
                }
            }
        } else {
            error(node, "\(label) has no 'target'", hint: "one of " + Resource.allCases.map(\.rawValue).joined(separator: ", "))
        }

        var enabled = true
        var pageSize = defaults.pageSize
        var retry = defaults.retry
        var defaultRegion = defaults.defaultRegion
        for entry in entries {
            switch entry.key {
            case "enabled": enabled = boolean(entry.value, "enabled") ?? true
            case "page_size": pageSize = integer(entry.value, "page_size", range: 1...10_000) ?? pageSize
            case "retry": retry = checkRetry(entry.value, base: defaults.retry)
            case "default_region": defaultRegion = region(entry.value, "default_region") ?? defaultRegion
            default: break
            }
        }

        guard let stagesNode = entries.first(where: { $0.key == "stages" })?.value else {
            error(node, "\(label) has no 'stages'", hint: "a pipeline needs at least a 'map' stage")
            return nil
        }
        guard let target else {
            // Stages are checked against the target's fields; without one, check only their names.
            if let list = stagesNode.sequence { for stage in list { _ = stageName(stage) } }
            return nil
        }
        var stages = StagesBuilder(schema: target.schema)
        checkStages(stagesNode, label: label, into: &stages)
        guard let name, let source, let mapping = stages.mapping else { return nil }
        return PipelineDefinition(
            name: name, source: source, target: target, enabled: enabled, pageSize: pageSize, retry: retry,
            defaultRegion: defaultRegion, mapping: mapping, normalizers: stages.normalizers, validation: stages.validation,
            dedupeKey: stages.dedupeKey)
    }

    struct StagesBuilder {
        let schema: TargetSchema
        var mapping: FieldMapping?
        var mappedNames: Set<String> = []
        var normalizers: [FieldNormalizer] = []
        var validation = ValidationRules()
        var dedupeKey: [TargetField]?
    }

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
