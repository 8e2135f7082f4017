/// A company as Nango identifies it: a connection id is unique only within its integration (the
/// provider config key), so the pair is the identity everywhere — tables, lookups, job keys, tokens.
public struct ConnectionIdentity: Sendable, Hashable, CustomStringConvertible {
    /// Nango's provider config key, e.g. `hubspot`.
    public var integrationId: String
    public var connectionId: String

    public init(integrationId: String, connectionId: String) {
        self.integrationId = integrationId
        self.connectionId = connectionId
    }

    /// `integration/connection`, as the emulator and logs print it.
    public var description: String { "\(integrationId)/\(connectionId)" }
}
