import MarketplaceCore

/// What Nango knows of one connection's sync for `GET /sync/status` (docs/nango.md §2.12): its latest job and its
/// schedule. Nango keeps the two apart and derives the reported status from both (`classifySyncStatus`), so the
/// emulator does too: a change set applied to a paused sync leaves it reported `PAUSED`, as a run would in Nango.
struct SyncRun: Sendable {
    /// The latest job's `sync_jobs.status`: a failed run is `STOPPED`.
    enum Job: String, Sendable { case running = "RUNNING", success = "SUCCESS", stopped = "STOPPED" }
    /// The schedule's state in Nango's orchestrator.
    enum Schedule: String, Sendable { case started = "STARTED", paused = "PAUSED", deleted = "DELETED" }

    /// The statuses Nango reports (`SyncStatus` in `packages/types/lib/sync/index.ts`).
    static let reportable: Set<String> = ["RUNNING", "SUCCESS", "PAUSED", "STOPPED", "ERROR"]

    var job = Job.success
    var schedule = Schedule.started
    /// The latest job's `updated_at`: when it ended, unless it is still running (then it is not reported).
    var finishedAt: Timestamp
    /// The latest job's counts for the model; nil for a job that failed before saving any (its result is `{}`).
    var result: RecordStream.ChangeCounts?
    /// The latest job's type: `INITIAL` or `INCREMENTAL`, as its webhook's `syncType` said.
    var incremental = false
    var checkpoint: [String: JSONValue]?

    /// `classifySyncStatus` (`packages/shared/lib/services/sync/manager.service.ts`).
    var reported: String {
        if job == .running { return "RUNNING" }
        switch schedule {
        case .paused: return "PAUSED"
        case .started: return job == .stopped ? "ERROR" : job.rawValue
        case .deleted: return "STOPPED"
        }
    }

    /// A run ended, successfully or not.
    mutating func ended(at time: Timestamp, result: RecordStream.ChangeCounts?, incremental: Bool, failed: Bool = false) {
        job = failed ? .stopped : .success
        finishedAt = time
        self.result = result
        self.incremental = incremental
    }

    /// Sets the job and schedule that make Nango report `status` (false for a status Nango does not have).
    /// Without `finishedAt` the latest job's end stays, except that a job leaving `RUNNING` ends now.
    @discardableResult
    mutating func set(reported status: String, finishedAt time: Timestamp?) -> Bool {
        let wasRunning = job == .running
        switch status {
        case "RUNNING": job = .running
        case "SUCCESS": job = .success; schedule = .started
        case "ERROR": job = .stopped; schedule = .started
        // Nango reports RUNNING over any schedule state: pausing or stopping a running sync ends its run here.
        case "PAUSED": schedule = .paused; if job == .running { job = .success }
        case "STOPPED": schedule = .deleted; if job == .running { job = .success }
        default: return false
        }
        if let time {
            finishedAt = time
        } else if wasRunning, job != .running {
            finishedAt = .now
        }
        return true
    }

    /// The schedule's next due date: null unless it is started (`nextDueDate` in the orchestrator's
    /// `packages/orchestrator/lib/clients/validate.ts`), else the first multiple of the interval after the latest run
    /// that is still ahead.
    func nextDue(every seconds: Int64, now: Timestamp = .now) -> Timestamp? {
        guard schedule == .started else { return nil }
        let interval = seconds * 1_000_000
        var next = finishedAt.micros + interval
        if next <= now.micros { next += ((now.micros - next) / interval + 1) * interval }
        return Timestamp(micros: next)
    }
}
