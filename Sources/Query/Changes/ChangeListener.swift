import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Storage

/// The one listener per instance: `LISTEN changes` on a connection of its own (migration 0022's triggers notify
/// with the company's id when a write commits) wakes the held change-feed requests. When the connection is lost,
/// held requests fall back to reading every second until it is back; at shutdown every held request answers at once.
public struct ChangeListener: Service {
    let database: Database
    let signals: ChangeSignals
    let logger: Logger

    public init(database: Database, signals: ChangeSignals, logger: Logger) {
        self.database = database
        self.signals = signals
        self.logger = logger
    }

    public func run() async throws {
        // Cancelled at shutdown: the notifications never end by themselves.
        try? await withGracefulShutdownHandler {
            try await cancelWhenGracefulShutdown { try await listen() }
        } onGracefulShutdown: {
            signals.signalAll(stopping: true)
        }
    }

    private func listen() async throws {
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await database.withConnection { connection in
                    try await connection.listen(on: ChangesTable.channel) { notifications in
                        backoff = .milliseconds(250)
                        // Changes committed while no one listened: held requests read again now.
                        signals.signalAll()
                        for try await notification in notifications {
                            if let companyId = UUID(uuidString: notification.payload) { signals.signal(companyId: companyId) }
                        }
                    }
                }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                logger.warning("change listener lost its connection; held requests poll until it is back",
                               metadata: ["error": "\(String(reflecting: error))"])
            }
            signals.signalAll()
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}
