import MarketplaceCore

/// One record of `GET /records`: the provider's fields as served plus `_nango_metadata` (docs/nango.md §2.3).
public struct NangoRecord: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable {
        case added = "ADDED"
        case updated = "UPDATED"
        case deleted = "DELETED"
    }

    public struct Metadata: Codable, Sendable, Equatable {
        public var firstSeenAt: String
        public var lastModifiedAt: String
        public var lastAction: Action
        public var deletedAt: String?
        public var prunedAt: String?
        public var cursor: String

        enum CodingKeys: String, CodingKey {
            case cursor
            case firstSeenAt = "first_seen_at"
            case lastModifiedAt = "last_modified_at"
            case lastAction = "last_action"
            case deletedAt = "deleted_at"
            case prunedAt = "pruned_at"
        }

        /// Nango sends `deleted_at` and `pruned_at` as explicit nulls.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(firstSeenAt, forKey: .firstSeenAt)
            try container.encode(lastModifiedAt, forKey: .lastModifiedAt)
            try container.encode(lastAction, forKey: .lastAction)
            try container.encode(deletedAt, forKey: .deletedAt)
            try container.encode(prunedAt, forKey: .prunedAt)
            try container.encode(cursor, forKey: .cursor)
        }

        public init(firstSeenAt: String, lastModifiedAt: String, lastAction: Action, deletedAt: String?, prunedAt: String? = nil, cursor: String) {
            self.firstSeenAt = firstSeenAt
            self.lastModifiedAt = lastModifiedAt
            self.lastAction = lastAction
            self.deletedAt = deletedAt
            self.prunedAt = prunedAt
            self.cursor = cursor
        }
    }

    /// The external id, always a string.
    public var id: String
    /// Every field of the record, `id` included, `_nango_metadata` excluded.
    public var fields: [String: JSONValue]
    public var metadata: Metadata
    /// Set when the record could not be read as served (a lone surrogate escape): its fields are kept with
    /// ``JSONValue/loneSurrogateMarker`` in place, for quarantine, and the rest of its page goes on.
    public var decodingProblem: String?

    public init(id: String, fields: [String: JSONValue], metadata: Metadata, decodingProblem: String? = nil) {
        self.id = id
        self.fields = fields
        self.metadata = metadata
        self.decodingProblem = decodingProblem
    }

    /// Nango emptied the record's payload (not updated for 30 days): only `id` and the metadata are left.
    public var isPruned: Bool { metadata.prunedAt != nil }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { self.stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }


    public init(from decoder: any Decoder) throws {
        self.decodingProblem = nil
        let container = try decoder.container(keyedBy: Key.self)
        self.id = try container.decode(String.self, forKey: Key("id"))
        self.metadata = try container.decode(Metadata.self, forKey: Key("_nango_metadata"))
        var fields: [String: JSONValue] = [:]
        for key in container.allKeys where key.stringValue != "_nango_metadata" {
            fields[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
        }
        self.fields = fields
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (key, value) in fields where key != "id" { try container.encode(value, forKey: Key(key)) }
        try container.encode(id, forKey: Key("id"))
        try container.encode(metadata, forKey: Key("_nango_metadata"))
    }
}

/// A page of `GET /records`.
public struct NangoRecordsPage: Codable, Sendable, Equatable {
    public var records: [NangoRecord]
    public var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case records
        case nextCursor = "next_cursor"
    }

    public init(records: [NangoRecord], nextCursor: String?) {
        self.records = records
        self.nextCursor = nextCursor
    }

    /// `next_cursor` is always written, `null` on the last page, as Nango sends it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(records, forKey: .records)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

extension NangoRecordsPage {
    /// A page from `GET /records` through the fast parser; errors name the offending field as decoding does.
    public static func parse(_ bytes: some Collection<UInt8>) throws(NangoError) -> NangoRecordsPage {
        let json: JSONValue
        var marked = false
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            // One record holding a lone surrogate must not fail its page forever: parse again with such escapes
            // marked, and set aside only the records that held one.
            guard let lenient = try? JSONValue.parse(bytes, markingLoneSurrogates: true) else {
                throw .decoding(field: "", message: error.description)
            }
            json = lenient
            marked = true
        }
        guard case .object(let top) = json else { throw .decoding(field: "", message: "expected an object") }
        guard case .array(let items)? = top["records"] else { throw .decoding(field: "records", message: "missing or not a list") }
        var records: [NangoRecord] = []
        records.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard case .object(var fields) = item else { throw .decoding(field: "records[\(index)]", message: "expected an object") }
            guard case .object(let meta)? = fields.removeValue(forKey: "_nango_metadata") else {
                throw .decoding(field: "records[\(index)]._nango_metadata", message: "missing")
            }
            guard let id = fields["id"]?.string else { throw .decoding(field: "records[\(index)].id", message: "missing or not a string") }
            func text(_ key: String) throws(NangoError) -> String {
                guard let value = meta[key]?.string else { throw .decoding(field: "records[\(index)]._nango_metadata.\(key)", message: "missing") }
                return value
            }
            guard let action = meta["last_action"]?.string.flatMap(NangoRecord.Action.init(rawValue:)) else {
                throw .decoding(field: "records[\(index)]._nango_metadata.last_action", message: "missing or unknown")
            }
            let problem = marked && item.containsLoneSurrogateMarker
                ? "a string holds a lone surrogate escape (half of a UTF-16 pair), which is not valid Unicode" : nil
            records.append(NangoRecord(id: id, fields: fields, metadata: .init(
                firstSeenAt: try text("first_seen_at"), lastModifiedAt: try text("last_modified_at"), lastAction: action,
                deletedAt: meta["deleted_at"]?.string, prunedAt: meta["pruned_at"]?.string, cursor: try text("cursor")),
                decodingProblem: problem))
        }
        let next: String?
        switch top["next_cursor"] {
        case .string(let cursor)?: next = cursor
        case .null?, nil: next = nil
        default: throw .decoding(field: "next_cursor", message: "expected a string or null")
        }
        return NangoRecordsPage(records: records, nextCursor: next)
    }
}

extension JSONValue {
    var containsLoneSurrogateMarker: Bool {
        switch self {
        case .string(let text): text.contains(JSONValue.loneSurrogateMarker)
        case .array(let values): values.contains { $0.containsLoneSurrogateMarker }
        case .object(let object): object.contains { $0.key.contains(JSONValue.loneSurrogateMarker) || $0.value.containsLoneSurrogateMarker }
        default: false
        }
    }
}
