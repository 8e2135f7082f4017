import Foundation
import Storage

/// What one drift check decides, from Nango's sync status, our last complete read, both counts and the drift on record.
/// Pure: the check reads and writes around it.
public enum DriftJudge {
    public enum Verdict: Sendable, Equatable {
        /// Not compared, and why.
        case skipped(String)
        /// The counts agree (a drift on record heals).
        case agreed
        /// A new mismatch, or one whose counts moved since its last re-read: one full re-read of the model.
        case reread
        /// Still open after its re-read: say it once (`sync.drift_detected`), no further re-read until a count moves.
        case announce
        /// Still open, already said, or its re-read not done yet: nothing to do.
        case unchanged
    }

    /// Nango's side of one model: its sync's status and finish, and its count.
    public struct NangoSide: Sendable, Equatable {
        public var status: String
        public var finishedAt: Date?
        public var count: Int

        public init(status: String, finishedAt: Date?, count: Int) {
            self.status = status
            self.finishedAt = finishedAt
            self.count = count
        }
    }

    public static func judge(nango: NangoSide?, ours: Int, lastRead: LastRead, drift: DriftRecord?, rereadDone: Bool) -> Verdict {
        guard let nango else { return .skipped("Nango reports no sync with a record count for this model") }
        if nango.status.uppercased() == "RUNNING" { return .skipped("Nango's sync is running") }
        if lastRead.running { return .skipped("our read of the model is running") }
        guard let read = lastRead.completeReadStartedAt else { return .skipped("no complete read of the model yet") }
        if let finished = nango.finishedAt, finished >= read {
            return .skipped("Nango's sync finished after our last complete read began")
        }
        if nango.count == ours { return .agreed }
        guard let drift, drift.state == .open, drift.rereadJobId != nil else { return .reread }
        guard rereadDone else { return .unchanged }
        // The re-read could not heal it: said once, with the counts it stands at.
        guard drift.notifiedAt != nil else { return .announce }
        // Re-read again only when either count moved since then.
        return drift.rereadNango != nango.count || drift.rereadOurs != ours ? .reread : .unchanged
    }
}
