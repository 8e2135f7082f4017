import Logging
import MarketplaceCore
import Nango
import Storage

/// Nango's failures as the job queue must see them, judged in one place for every job that calls Nango:
/// a rate limit waits without spending an attempt; a connection Nango no longer knows disconnects its
/// company and ends the job; anything else is left to the retry policy.
struct NangoJobFailure: Sendable {
    let database: Database
    let cache: any CacheInvalidating

    func jobError(for error: any Error, company identity: ConnectionIdentity, logger: Logger) async -> any Error {
        guard let nangoError = error as? NangoError else { return error }
        let message = String(describing: nangoError)
        switch nangoError {
        case .rateLimited(let delay):
            return JobError.retryAfter(delay, message)
        case .notFound(let code, _):
            if code == "unknown_connection" {
                do {
                    _ = try await changeCompanyStatus(identity, to: .disconnected, reason: message, database: database, cache: cache, logger: logger)
                } catch {
                    logger.error("could not mark the company disconnected", metadata: ["error": "\(error)"])
                }
            }
            return JobError.permanent(message)
        default:
            return error
        }
    }
}
