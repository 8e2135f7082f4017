import Foundation
import Logging
import MarketplaceCore
import Storage

/// Nango's word that a company's connection was re-authorised: the `override` auth webhook the inbox stored.
public struct ReconnectEvidence: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// When the override for the connection arrived, at or after `since`. Nango sends the webhook while the browser
    /// comes back from its Connect UI, so either may come first: this waits up to `wait` for it.
    public func overrideReceived(_ identity: ConnectionIdentity, since: Date, wait: Duration, logger: Logger) async throws -> Date? {
        let clock = ContinuousClock()
        let deadline = clock.now + wait
        while true {
            let received = try await database.withConnection { db in
                try await WebhookEventsTable.overrideReceived(identity, since: since, on: db, logger: logger)
            }
            if received != nil || clock.now >= deadline { return received }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}
