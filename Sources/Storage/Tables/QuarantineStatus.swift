/// A quarantine entry's state (`quarantine.status`; its CHECK constraint lists the same values).
public enum QuarantineStatus: String, Sendable, CaseIterable, Codable {
    /// The record is held back with its reasons.
    case open
    /// Its record no longer needs it (accepted since, deleted at the source, or gone in a full re-read).
    case resolved
    case reprocessed
}
