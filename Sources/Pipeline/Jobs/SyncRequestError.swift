import Nango
import Storage

/// Why a sync request was refused. The HTTP edge maps each case once; Nango's own words go to the log only.
public enum SyncRequestError: Error, Sendable {
    case companyNotFound
    case companyInactive(CompanyStatus)
    /// Nango refused to trigger its syncs.
    case nangoRefused(NangoError)
}
