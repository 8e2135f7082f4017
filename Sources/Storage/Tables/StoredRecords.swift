import Foundation

/// A provider record as we already hold it (a row's or a quarantine entry's raw fields, and Nango's
/// modification time): what a re-derivation runs through a pipeline again.
public struct StoredRecord: Sendable, Equatable {
    public var raw: String
    public var sourceUpdatedAt: Date?

    public init(raw: String, sourceUpdatedAt: Date?) {
        self.raw = raw
        self.sourceUpdatedAt = sourceUpdatedAt
    }
}
