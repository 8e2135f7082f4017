/// A job's state (`jobs.status`; its CHECK constraint lists the same values).
public enum JobStatus: String, Sendable, CaseIterable, Codable {
    case queued
    case running
    case succeeded
    /// Awaiting a retry at its `run_at`.
    case failed
    /// Out of attempts, or failed for good: waits for ops.
    case dead
    case cancelled

    /// The states ops may put back in the queue.
    public static let retryable: Set<JobStatus> = [.dead, .failed, .cancelled]
    /// The order ops read them in: work still to do first.
    public static let byUrgency: [JobStatus] = [.queued, .running, .failed, .dead, .succeeded, .cancelled]
}
