import Storage
import Foundation
import MarketplaceCore

/// A checked `pipelines.yaml`: only a file without errors becomes one.
public struct PipelineSet: Sendable {
    public var version: Int
    public var defaults: PipelineDefaults
    public var pipelines: [PipelineDefinition]
    /// SHA-256 of the file's bytes: which version ran, in `pipeline_runs` and the admin API.
    public var hash: String
    public var path: String

    /// The pipelines that read a model of a company's connection, in file order.
    public func subscribers(integration: String, provider: String, model: String) -> [PipelineDefinition] {
        pipelines.filter { $0.enabled && $0.source.model == model && $0.source.matches(integration: integration, provider: provider) }
    }

    /// The models the enabled pipelines read from a company's connection, each once.
    public func models(integration: String, provider: String) -> [String] {
        var seen = Set<String>()
        return sources.filter { $0.matches(integration: integration, provider: provider) && seen.insert($0.model).inserted }.map(\.model)
    }

    public func pipeline(named name: String) -> PipelineDefinition? { pipelines.first { $0.name == name } }

    /// Every (integration or provider, model) some enabled pipeline reads.
    public var sources: [PipelineSource] {
        var seen = Set<SourceSelector>()
        return pipelines.filter(\.enabled).map(\.source).filter { seen.insert($0.selector).inserted }
    }
}

public struct PipelineDefaults: Sendable, Equatable {
    public var pageSize: Int
    public var retry: RetryPolicy
    public var defaultRegion: String?

    public static let standard = PipelineDefaults(pageSize: 500, retry: .standard, defaultRegion: nil)
}

/// How a failing job backs off; after `maxAttempts` it is dead.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public static let standard = RetryPolicy(maxAttempts: 8, initialBackoff: .seconds(2), maxBackoff: .seconds(600))

    public init(maxAttempts: Int, initialBackoff: Duration, maxBackoff: Duration) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }
}

/// Which connections a pipeline reads: by Nango's provider config key (which each customer names, e.g.
/// `hubspot-eu`), or by provider (`hubspot`), which fits whatever key a customer chose.
public struct PipelineSource: Sendable, Hashable {
    public var integration: String?
    public var provider: String?
    public var model: String
    /// Re-read the whole stream this often and soft-delete what Nango no longer holds; nil: off.
    public var fullResync: Duration?

    public init(integration: String? = nil, provider: String? = nil, model: String, fullResync: Duration? = nil) {
        self.integration = integration
        self.provider = provider
        self.model = model
        self.fullResync = fullResync
    }

    public func matches(integration: String, provider: String) -> Bool {
        if let key = self.integration { return key == integration }
        return self.provider == provider
    }

    public var selector: SourceSelector { SourceSelector(integrationId: integration, provider: provider, model: model) }

    /// `integration quickbooks` or `provider hubspot`: how `pipelines check` and the admin API say it.
    public var matchDescription: String {
        integration.map { "integration \($0)" } ?? "provider \(provider ?? "?")"
    }
}

public struct PipelineDefinition: Sendable {
    public var name: String
    public var source: PipelineSource
    public var target: Resource
    public var enabled: Bool
    public var pageSize: Int
    public var retry: RetryPolicy
    public var defaultRegion: String?
    public var mapping: FieldMapping
    public var normalizers: [FieldNormalizer]
    public var validation: ValidationRules
    public var dedupeKey: [TargetField]?
}

/// A `map` stage: each target field from a source path, a first-non-empty list, a join or a constant.
public struct FieldMapping: Sendable {
    public enum Source: Sendable, Equatable {
        case path(SourcePath)
        case firstNonEmpty([SourcePath])
        case join([SourcePath], separator: String)
        case constant(JSONValue)
    }

    public var fields: [(field: TargetField, source: Source)]
}

/// A `normalize` stage entry.
public struct FieldNormalizer: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case trim
        case email
        case e164(defaultRegion: String?, regionFrom: TargetField?)
        case country
        case currency
        case money(currencyField: TargetField?, defaultCurrency: String?)
        case timestamp
        case lowercase
        case uppercase
    }

    public var field: TargetField
    public var kind: Kind
}

/// A `validate` stage.
public struct ValidationRules: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable {
        case email, e164, country = "iso3166_alpha2", currency = "iso4217", url, uuid
    }

    public struct Rule: Sendable, Equatable {
        public var format: Format?
        public var allowed: [String]?
        public var minimum: Double?
        public var maximum: Double?
        public var minLength: Int?
        public var maxLength: Int?

        public init() {}
    }

    public var required: [TargetField] = []
    public var rules: [(field: TargetField, rule: Rule)] = []

    public init() {}

    public var isEmpty: Bool { required.isEmpty && rules.isEmpty }

    public static func == (lhs: ValidationRules, rhs: ValidationRules) -> Bool {
        lhs.required == rhs.required && lhs.rules.map(\.field) == rhs.rules.map(\.field) && lhs.rules.map(\.rule) == rhs.rules.map(\.rule)
    }
}
