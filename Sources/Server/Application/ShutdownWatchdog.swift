import Foundation
import Logging
import MarketplaceCore
import ServiceLifecycle

/// The last resort of `serve`: once a graceful shutdown starts, the process exits at `deadline` whatever it is still
/// waiting for. The service group already cancels everything after `SHUTDOWN_TIMEOUT`, but a task that ignores
/// cancellation (a driver call on a connection whose server stopped answering) would hold the group, and so the
/// process, forever. The timer runs on a thread of its own: a starved or stuck task pool cannot delay it.
struct ShutdownWatchdog: Service {
    let deadline: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let seconds = Double(deadline.components.seconds) + Double(deadline.components.attoseconds) / 1e18
        let logger = self.logger
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            logger.critical("shutdown did not finish in time; exiting now", metadata: ["deadline_seconds": "\(seconds)"])
            LogOutput.standardOutput.flush()  // _exit skips atexit, where buffered lines are otherwise written
            _exit(1)
        }
    }
}
