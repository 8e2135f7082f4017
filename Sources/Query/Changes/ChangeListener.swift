import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import ServiceLifecycle
import Storage

/// Wakes the held change-feed requests (``ChangeSignals``):
/// - at once when a write commits: migration 0022's triggers notify `changes` with the company's id, heard on the
///   instance's listening connection (``Database/listen(_:listening:_:)``);
/// - within a tick when changes become readable later, because an older transaction held the feed's bound below them
///   at their commit, or because a notification was lost (listening restarted, every request wakes): one statement a
///   tick, for every held request, names the companies whose changes became readable since the last;
/// - at shutdown, every held request answers at once.
public struct ChangeListener: Service {
    let database: Database
    let signals: ChangeSignals
    let tick: Duration
    let logger: Logger

    public init(database: Database, signals: ChangeSignals, tick: Duration = .seconds(1), logger: Logger) {
        self.database = database
        self.signals = signals
        self.tick = tick
        self.logger = logger
    }

    public func run() async {
        // Cancelled at shutdown: the notifications and the ticks never end by themselves.
        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Changes committed while no one listened: held requests read again when listening (re)starts.
                        await database.listen(ChangesTable.channel, listening: { signals.signalAll() }) { payload in
                            if let companyId = UUID(uuidString: payload) { signals.signal(companyId: companyId) }
                        }
                    }
                    group.addTask { await followReadable() }
                }
            }
        } onGracefulShutdown: {
            signals.signalAll(stopping: true)
        }
    }

    /// Each tick while requests are held: the companies whose changes became readable since the last tick's bound
    /// are signalled. Bounds taken one after another cover every change once it is readable: one below a bound is
    /// readable by every later read. The first tick after none were held has no bound to start from, so it wakes
    /// every held request instead, as does a tick that fails.
    func followReadable() async {
        var since: UInt64?
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            guard signals.held > 0 else {
                since = nil
                continue
            }
            do {
                // Given up, not waited for, when Postgres stops answering: shutdown must not wait on a stuck call.
                let readable = try await withTimeout(max(tick * 5, .seconds(5))) { [since, database, logger] in
                    try await database.withConnection { db in
                        try await ChangesTable.readable(since: since, on: db, logger: logger)
                    }
                }
                if since == nil { signals.signalAll() } else { signals.signal(companies: readable.companies) }
                since = max(since ?? 0, readable.bound)
            } catch {
                logger.debug("the change feed's tick failed; held requests read again", metadata: ["error": "\(error)"])
                signals.signalAll()
                since = nil
            }
        }
    }
}
