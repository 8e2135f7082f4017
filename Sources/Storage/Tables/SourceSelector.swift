/// Which companies' model a pipeline reads, as the tables take it: by integration key, or by provider.
public struct SourceSelector: Sendable, Hashable {
    public var integrationId: String?
    public var provider: String?
    public var model: String

    public init(integrationId: String?, provider: String?, model: String) {
        self.integrationId = integrationId
        self.provider = provider
        self.model = model
    }
}

extension Array where Element == SourceSelector {
    /// Parallel arrays for `UNNEST`: an empty string matches no company (keys and providers are never empty).
    var unnestColumns: (integrations: [String], providers: [String], models: [String]) {
        (map { $0.integrationId ?? "" }, map { $0.integrationId == nil ? $0.provider ?? "" : "" }, map(\.model))
    }
}
