/// How a pipeline run (`pipeline_runs.outcome`) or a scheduled task (`scheduled_tasks.last_outcome`) ended.
public enum RunOutcome: String, Sendable, CaseIterable, Codable {
    case succeeded
    case failed
    /// Stopped with nothing left to do, or given back at shutdown.
    case cancelled
}
