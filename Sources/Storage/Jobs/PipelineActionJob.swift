import MarketplaceCore

/// Ops' actions on one pipeline for one company: `pipeline.backfill` re-reads the pipeline's model from the
/// start of Nango's stream (with a cursor of its own); `pipeline.rederive` rebuilds its rows from the raw
/// records already stored, without calling Nango.
public struct PipelineActionJob: JobContract {
    public enum Action: String, Sendable, CaseIterable {
        case backfill = "pipeline.backfill"
        case rederive = "pipeline.rederive"

        /// The word ops use: `backfill`, `rederive`.
        public var name: String { String(rawValue.dropFirst("pipeline.".count)) }
    }

    public static var kinds: [String] { Action.allCases.map(\.rawValue) }

    public var action: Action
    public var pipeline: String
    public var identity: ConnectionIdentity

    public init(_ action: Action, pipeline: String, _ identity: ConnectionIdentity) {
        self.action = action
        self.pipeline = pipeline
        self.identity = identity
    }

    public var kind: String { action.rawValue }
    public var concurrencyKey: String? { "\(action.name):\(pipeline):\(identity.integrationId):\(identity.connectionId)" }
    public var payload: [String: JSONValue] { identity.payloadFields.merging(["pipeline": .string(pipeline)]) { $1 } }

    public init(kind: String, payload: [String: JSONValue]) throws(JobPayloadError) {
        guard let action = Action(rawValue: kind) else { throw JobPayloadError(kind: kind, field: "kind") }
        self.action = action
        self.pipeline = try Self.string(payload, "pipeline", kind: kind)
        self.identity = try Self.identity(payload, kind: kind)
    }
}
