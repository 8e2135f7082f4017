import Foundation
import MarketplaceCore
import Nango

/// A record entering the stages: its fields, and Nango's metadata when it came from `GET /records`.
public struct SourceRecord: Sendable, Equatable {
    public enum Action: String, Sendable { case added = "ADDED", updated = "UPDATED", deleted = "DELETED" }

    public var fields: [String: JSONValue]
    public var metadata: [String: JSONValue]
    public var action: Action
    public var lastModifiedAt: Date?
    public var deletedAt: Date?
    public var cursor: String?
    /// Nango emptied the payload (`_nango_metadata.pruned_at`): only `id` is left, and it says nothing new.
    public var isPruned: Bool
    /// Why the record could not be read as served; it goes to quarantine with this reason.
    public var decodingProblem: String?

    public init(fields: [String: JSONValue], metadata: [String: JSONValue] = [:], action: Action = .added,
                lastModifiedAt: Date? = nil, deletedAt: Date? = nil, cursor: String? = nil, isPruned: Bool = false,
                decodingProblem: String? = nil) {
        self.fields = fields
        self.metadata = metadata
        self.action = action
        self.lastModifiedAt = lastModifiedAt
        self.deletedAt = deletedAt
        self.cursor = cursor
        self.isPruned = isPruned
        self.decodingProblem = decodingProblem
    }

    public init(_ record: NangoRecord) {
        let meta = record.metadata
        self.fields = record.fields
        self.metadata = [
            "first_seen_at": .string(meta.firstSeenAt), "last_modified_at": .string(meta.lastModifiedAt),
            "last_action": .string(meta.lastAction.rawValue), "deleted_at": meta.deletedAt.map(JSONValue.string) ?? .null,
            "pruned_at": meta.prunedAt.map(JSONValue.string) ?? .null, "cursor": .string(meta.cursor),
        ]
        self.action = Action(rawValue: meta.lastAction.rawValue) ?? .updated
        self.lastModifiedAt = Timestamps.parse(meta.lastModifiedAt)
        self.deletedAt = meta.deletedAt.flatMap(Timestamps.parse)
        self.cursor = meta.cursor
        self.isPruned = record.isPruned
        self.decodingProblem = record.decodingProblem
    }

    /// A record from a file: a Nango record (with `_nango_metadata`) or a plain object.
    public init(json: [String: JSONValue]) {
        var fields = json
        let metadata = fields.removeValue(forKey: "_nango_metadata")?.object ?? [:]
        self.init(
            fields: fields, metadata: metadata,
            action: metadata["last_action"]?.string.flatMap(Action.init(rawValue:)) ?? .added,
            lastModifiedAt: metadata["last_modified_at"]?.string.flatMap(Timestamps.parse),
            deletedAt: metadata["deleted_at"]?.string.flatMap(Timestamps.parse),
            cursor: metadata["cursor"]?.string, isPruned: metadata["pruned_at"]?.string != nil)
    }

    public func value(at path: SourcePath) -> JSONValue? {
        var current: JSONValue?
        for (position, segment) in path.segments.enumerated() {
            switch segment {
            case .key(let key):
                if position == 0 {
                    current = key == "_nango_metadata" ? .object(metadata) : fields[key]
                } else {
                    current = current?[key]
                }
            case .index(let index):
                guard case .array(let values) = current, values.indices.contains(index) else { return nil }
                current = values[index]
            }
            if current == nil { return nil }
        }
        return current
    }
}
