import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Storage

/// Wakes the held change-feed requests: migration 0022's triggers notify `changes` with the company's id when a
/// write commits, heard on the instance's listening connection (``Database/listen(_:listening:_:)``). While that
/// connection is lost, held requests read every second (``ChangeFeed``'s poll) until it is back; at shutdown every held
/// request answers at once.
public struct ChangeListener: Service {
    let database: Database
    let signals: ChangeSignals

    public init(database: Database, signals: ChangeSignals) {
        self.database = database
        self.signals = signals
    }

    public func run() async {
        // Cancelled at shutdown: the notifications never end by themselves.
        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown {
                // Changes committed while no one listened: held requests read again when listening (re)starts.
                await database.listen(ChangesTable.channel, listening: { signals.signalAll() }) { payload in
                    if let companyId = UUID(uuidString: payload) { signals.signal(companyId: companyId) }
                }
            }
        } onGracefulShutdown: {
            signals.signalAll(stopping: true)
        }
    }
}
