import Storage
import Foundation
import MarketplaceCore
import Yams

/// The file's top level, its defaults and each pipeline's own keys.
extension PipelineChecker {
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
                let provider = parts.first { $0.key == "provider" }.flatMap { string($0.value, "source provider") }
                let model = parts.first { $0.key == "model" }.flatMap { string($0.value, "source model") }
                let hasIntegration = parts.contains { $0.key == "integration" }, hasProvider = parts.contains { $0.key == "provider" }
                if !hasIntegration, !hasProvider {
                    error(sourceNode, "'source' of \(label) needs 'integration' (Nango's provider config key, e.g. hubspot-prod) or 'provider' (e.g. hubspot)")
                }
                if hasIntegration, hasProvider, let node = parts.first(where: { $0.key == "provider" })?.value {
                    error(node, "'source' of \(label) has both 'integration' and 'provider'; keep one",
                          hint: "'provider' matches every integration key of that provider")
                }
                if !parts.contains(where: { $0.key == "model" }) { error(sourceNode, "'source' of \(label) needs 'model'") }
                var fullResync: Duration?
                if let node = parts.first(where: { $0.key == "full_resync" })?.value {
                    fullResync = node.scalar?.string == "off" ? nil : resyncInterval(node, "full_resync")
                }
                if let model, integration != nil || provider != nil {
                    source = PipelineSource(integration: integration, provider: hasIntegration ? nil : provider, model: model, fullResync: fullResync)
                }
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
}
