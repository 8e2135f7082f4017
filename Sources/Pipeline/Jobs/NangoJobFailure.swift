import Logging
import MarketplaceCore
import Nango
import Storage

/// Nango's failures as the job queue must see them, judged in one place for every job that calls Nango:
/// a rate limit waits without spending an attempt; a connection Nango no longer knows disconnects its
/// company and ends the job; a refresh Nango cannot do marks the company `refresh_failed`; anything else is left to
/// the retry policy.
struct NangoJobFailure: Sendable {
    let database: Database

    /// `lease`: the job's, which the company's status change is fenced by. `refreshing`: the call asked Nango to
    /// refresh the connection's credentials now.
    func jobError(
        for error: any Error, company identity: ConnectionIdentity, lease: JobLease, refreshing: Bool = false, logger: Logger
    ) async -> any Error {
        guard let nangoError = error as? NangoError else { return error }
        let message = String(describing: nangoError)
        switch nangoError {
        case .rateLimited(let delay):
            return JobError.retryAfter(delay, message)
        case .notFound(let code, _) where Self.connectionGoneCodes.contains(code):
            // Nango no longer has the connection: the company's data is kept, its syncs stop.
            return await setStatus(.disconnected, identity, reason: message, lease: lease, logger: logger) ?? JobError.permanent(message)
        case .refreshExhausted:
            // Nango gave up refreshing (424): syncs pause until the customer reconnects.
            return await setStatus(.refreshFailed, identity, reason: message, lease: lease, logger: logger) ?? JobError.permanent(message)
        case .notFound:
            return JobError.permanent(message)
        case _ where refreshing && !nangoError.isTransient:
            // A refresh Nango cannot do (the grant was revoked …) is the company's status, not a retry.
            return await setStatus(.refreshFailed, identity, reason: message, lease: lease, logger: logger) ?? JobError.permanent(message)
        default:
            return error
        }
    }

    /// Nango's own codes for a connection it does not have (400 on `/records`, 404 on `/connections/{id}`); a
    /// bare 404 without Nango's body (a wrong base URL) disconnects nothing.
    static let connectionGoneCodes: Set<String> = ["unknown_connection", "not_found"]

    /// Records the company's status; a lost lease is the job's outcome instead (the status is the new owner's to record).
    private func setStatus(_ status: CompanyStatus, _ identity: ConnectionIdentity, reason: String, lease: JobLease, logger: Logger) async -> JobError? {
        do {
            _ = try await changeCompanyStatus(identity, to: status, reason: reason, database: database, lease: lease, logger: logger)
        } catch is LeaseLostError {
            return .leaseLost
        } catch {
            logger.error("could not record the company's status", metadata: ["status": "\(status.rawValue)", "error": "\(error)"])
        }
        return nil
    }
}
