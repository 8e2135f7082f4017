import Foundation

/// A normalized, typed value of a target field.
public enum TargetValue: Sendable, Equatable, CustomStringConvertible {
    case text(String)
    case decimal(Decimal)
    case double(Double)
    case boolean(Bool)
    case timestamp(Date)

    /// The value as Postgres reads it back from text.
    public var databaseText: String {
        switch self {
        case .text(let value): return value
        case .decimal(let value): return "\(value)"
        case .double(let value): return String(value)
        case .boolean(let value): return value ? "true" : "false"
        case .timestamp(let value): return Timestamps.format(value)
        }
    }

    public var description: String { databaseText }
}

/// One record ready to upsert.
public struct TargetRow: Sendable, Equatable {
    public var externalId: String
    public var values: [String: TargetValue]
    /// Nango's modification time: a row never overwrites a newer version of itself.
    public var sourceUpdatedAt: Date
    public var cursor: String
    /// The record as Nango served it, `_nango_metadata` left out, as compact JSON.
    public var raw: String
    public var contentHash: String
}

/// A record Nango reported DELETED.
public struct TargetDeletion: Sendable, Equatable {
    public var externalId: String
    public var deletedAt: Date
}

/// Why a record was rejected.
public struct QuarantineReason: Sendable, Equatable, Codable, CustomStringConvertible {
    public var field: String?
    public var message: String

    public var description: String { field.map { "\($0): \(message)" } ?? message }
}

public struct QuarantinedRecord: Sendable, Equatable {
    public var externalId: String?
    /// The external id, or a hash of the record when it has none.
    public var recordKey: String
    public var reasons: [QuarantineReason]
    public var raw: String
    /// Nango's modification time of the record, when it had one.
    public var sourceUpdatedAt: Date? = nil
}

/// What a page of records becomes under one pipeline.
public struct ProcessedBatch: Sendable, Equatable {
    public var rows: [TargetRow] = []
    public var deletions: [TargetDeletion] = []
    public var quarantined: [QuarantinedRecord] = []
    /// External ids of records Nango pruned: never written, never a change; counted when we never stored them.
    public var pruned: [String] = []
    /// Records collapsed by the dedupe stage (an older version of a record in the same page).
    public var duplicates = 0
    /// Values that could not be normalized on fields without a validation rule: left empty, the raw record kept.
    public var droppedValues = 0
    public var fetched = 0

    public init() {}
}
