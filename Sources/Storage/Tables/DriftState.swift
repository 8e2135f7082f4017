/// Where a drift stands (`sync_drift.state`; its CHECK lists the same).
public enum DriftState: String, Sendable, CaseIterable, Codable {
    /// Nango's count and ours differ.
    case open
    /// They agree again (after a full re-read, or by themselves).
    case healed
}
