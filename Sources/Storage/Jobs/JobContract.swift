import MarketplaceCore

/// A payload that does not match its job kind's contract: retrying cannot fix it.
public struct JobPayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let kind: String
    public let field: String

    public var description: String { "\(kind) job: payload field '\(field)' is missing or not a string" }
}

/// One kind of job (or a family of kinds with one payload): its kind, payload and concurrency key are
/// written and read here only, so Ingest, the scheduler, the admin API and the workers cannot disagree.
public protocol JobContract: Sendable, Equatable {
    /// Every kind this contract covers (the kinds a handler of it registers for).
    static var kinds: [String] { get }
    var kind: String { get }
    var payload: [String: JSONValue] { get }
    /// Jobs of one key run one at a time.
    var concurrencyKey: String? { get }
    /// At most one job of a kind and key waits in the queue: another queued meanwhile is merged into it. False for
    /// jobs whose every occurrence must run, in order (a company's upsert after its disconnection).
    var mergesWhileQueued: Bool { get }
    init(kind: String, payload: [String: JSONValue]) throws(JobPayloadError)
}

extension JobContract {
    public var mergesWhileQueued: Bool { true }

    public func newJob(maxAttempts: Int = 8) -> NewJob {
        NewJob(kind: kind, payload: payload, concurrencyKey: concurrencyKey, maxAttempts: maxAttempts, mergesWhileQueued: mergesWhileQueued)
    }

    /// A claimed job's payload, read back through the contract it was written with.
    public static func decode(_ job: ClaimedJob) throws(JobPayloadError) -> Self {
        try Self(kind: job.kind, payload: job.payload)
    }

    static func string(_ payload: [String: JSONValue], _ field: String, kind: String) throws(JobPayloadError) -> String {
        guard let value = payload[field]?.string, !value.isEmpty else { throw JobPayloadError(kind: kind, field: field) }
        return value
    }

    static func identity(_ payload: [String: JSONValue], kind: String) throws(JobPayloadError) -> ConnectionIdentity {
        ConnectionIdentity(
            integrationId: try string(payload, "integration_id", kind: kind), connectionId: try string(payload, "connection_id", kind: kind))
    }
}

extension ConnectionIdentity {
    /// The payload fields that name a company in every job that has one.
    var payloadFields: [String: JSONValue] { ["integration_id": .string(integrationId), "connection_id": .string(connectionId)] }
}
