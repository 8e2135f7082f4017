/// A company's status, as `companies.status` holds it (its CHECK constraint lists the same three).
public enum CompanyStatus: String, Sendable, Codable, CaseIterable {
    /// Syncing.
    case active
    /// Nango no longer knows the connection (or said it was deleted): nothing syncs, its tokens stop working.
    case disconnected
    /// Nango could not refresh the provider's token: reconciliation leaves it alone until a reconnect.
    case refreshFailed = "refresh_failed"
}
