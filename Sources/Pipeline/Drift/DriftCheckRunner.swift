import Logging
import Storage

/// Runs `drift.check` jobs. A drift check never fails its job for Nango's sake: a check it cannot make is skipped, with
/// its reason recorded, and the next complete read or the schedule checks again.
public struct DriftCheckRunner: JobHandler {
    let check: DriftCheck
    let logger: Logger

    public init(check: DriftCheck, logger: Logger) {
        self.check = check
        self.logger = logger
    }

    public var kinds: [String] { DriftCheckJob.kinds }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let job = try context.decode(DriftCheckJob.self)
        var logger = self.logger
        logger[metadataKey: "job_id"] = "\(context.job.id)"
        _ = try await check.check(job.identity, model: job.model, lease: context.lease, logger: logger)
        return .succeeded
    }
}
