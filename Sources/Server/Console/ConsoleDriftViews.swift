import Foundation
import MarketplaceCore
import Pipeline
import Storage

// What the overview and the company page show of the drift check (docs/drift.md).

/// An open drift on the overview: which company and model, both counts, since when.
struct OpenDriftRow {
    let companyId: String
    let company: String
    let connection: String
    let model: String
    let nangoCount: Int
    let ourCount: Int
    let detectedAt: Stamp?

    init(_ drift: OpenDriftListing) {
        (companyId, company) = (drift.companyId.lowercasedString, drift.companyName ?? "(no name yet)")
        connection = drift.identity.integrationId + "/" + drift.identity.connectionId
        (model, nangoCount, ourCount, detectedAt) = (drift.model, drift.nangoCount, drift.ourCount, Stamp(drift.detectedAt))
    }
}

/// The overview's drift flag: how many are open and the newest of them.
struct DriftFlag {
    let open: Int
    let any: Bool
    let newest: [OpenDriftRow]
    /// Open drifts beyond those listed (0 when all are).
    let more: Int
    let hasMore: Bool

    init(open: Int, newest: [OpenDriftListing]) {
        (self.open, any, self.newest) = (open, open > 0, newest.map(OpenDriftRow.init))
        more = max(0, open - newest.count)
        hasMore = more > 0
    }
}

/// One model on the company page: its drift on record (open flagged, healed quiet) and what its last check found.
struct ModelDriftRow {
    let model: String
    /// `open`, `healed`, or nil when the model never drifted.
    let state: String?
    let open: Bool
    let nangoCount: String
    let ourCount: String
    let detectedAt: Stamp?
    let healedAt: Stamp?
    let checkedAt: Stamp?
    let checkResult: String?

    init(_ status: ModelDriftStatus) {
        (model, state, open) = (status.model, status.state?.rawValue, status.state == .open)
        (nangoCount, ourCount) = (status.nangoCount.map(String.init) ?? "", status.ourCount.map(String.init) ?? "")
        (detectedAt, healedAt, checkedAt, checkResult) = (Stamp(status.detectedAt), Stamp(status.healedAt), Stamp(status.checkedAt), status.checkResult)
    }
}
