/// What a change did to its row (`changes.kind`); with the resource it makes the change's `type`
/// (`contact.created`, `company.updated`, …).
public enum ChangeKind: String, Sendable, CaseIterable, Codable {
    case created
    case updated
    /// Soft-deleted (Nango's DELETED, or a record a full re-read no longer found); the row's last state.
    case deleted
}
