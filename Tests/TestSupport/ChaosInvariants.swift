/// What the chaos suite saw, gathered from outside (the database and the API only), and the promises it checks.
/// Pure, so each invariant is unit-tested against hand-written snapshots that break it.
public struct ChaosSnapshot: Sendable, Equatable {
    /// Markers of webhook bodies some instance answered 200.
    public var acknowledged: Set<String> = []
    /// Stored webhook events by marker: how many rows each marker has.
    public var stored: [String: Int] = [:]
    /// Markers of stored events that call for a job but are linked to none.
    public var withoutJob: Set<String> = []
    /// Per (integration, connection, model): Nango's live record ids, and what Postgres holds.
    public var models: [Model] = []
    /// API pages read after the pipeline settled, beside the database's answer to the same page.
    public var reads: [Read] = []
    /// Jobs still `running` with their lease long past.
    public var overdueRunningJobs: [Int64] = []
    /// Per (integration, connection, model): the checkpoint's (version, cursor) in the order sampled.
    public var checkpoints: [String: [Checkpoint]] = [:]

    public struct Model: Sendable, Equatable {
        public var key: String
        public var live: Set<String>
        public var stored: Set<String>
        public var quarantined: Set<String>
        public init(key: String, live: Set<String>, stored: Set<String>, quarantined: Set<String>) {
            (self.key, self.live, self.stored, self.quarantined) = (key, live, stored, quarantined)
        }
    }

    public struct Read: Sendable, Equatable {
        public var instance: String
        public var path: String
        public var expected: [String]
        public var answered: [String]
        public init(instance: String, path: String, expected: [String], answered: [String]) {
            (self.instance, self.path, self.expected, self.answered) = (instance, path, expected, answered)
        }
    }

    public struct Checkpoint: Sendable, Equatable {
        public var version: Int64
        public var cursor: String?
        public init(version: Int64, cursor: String?) {
            (self.version, self.cursor) = (version, cursor)
        }
    }

    public init() {}
}

public struct ChaosViolation: Sendable, Equatable, CustomStringConvertible {
    public var invariant: String
    public var detail: String
    public var description: String { "\(invariant): \(detail)" }
}

public enum ChaosInvariants {
    public static func check(_ snapshot: ChaosSnapshot) -> [ChaosViolation] {
        var violations: [ChaosViolation] = []
        func fail(_ invariant: String, _ detail: String) { violations.append(ChaosViolation(invariant: invariant, detail: detail)) }

        let lost = snapshot.acknowledged.filter { (snapshot.stored[$0] ?? 0) == 0 }
        if !lost.isEmpty { fail("acknowledged_is_stored", "\(lost.count) answered 200 but not stored, e.g. \(lost.sorted().prefix(3))") }
        let twice = snapshot.stored.filter { $0.value > 1 }.keys
        if !twice.isEmpty { fail("stored_once", "\(twice.count) stored more than once, e.g. \(twice.sorted().prefix(3))") }
        if !snapshot.withoutJob.isEmpty {
            fail("stored_has_job", "\(snapshot.withoutJob.count) stored without a job, e.g. \(snapshot.withoutJob.sorted().prefix(3))")
        }
        for model in snapshot.models {
            let extra = model.stored.subtracting(model.live)
            let missing = model.live.subtracting(model.stored).subtracting(model.quarantined)
            if !extra.isEmpty || !missing.isEmpty {
                fail("converged", "\(model.key): \(missing.count) missing (e.g. \(missing.sorted().prefix(3))), \(extra.count) not in Nango (e.g. \(extra.sorted().prefix(3)))")
            }
        }
        for read in snapshot.reads where read.answered != read.expected {
            fail("no_stale_read", "\(read.instance) \(read.path): answered \(read.answered.prefix(3)) where the database holds \(read.expected.prefix(3))")
        }
        if !snapshot.overdueRunningJobs.isEmpty {
            fail("no_job_stuck_running", "jobs \(snapshot.overdueRunningJobs.sorted()) running past their lease")
        }
        for (key, samples) in snapshot.checkpoints.sorted(by: { $0.key < $1.key }) {
            for (earlier, later) in zip(samples, samples.dropFirst()) {
                if later.version < earlier.version || (later.version == earlier.version && later.cursor != earlier.cursor) {
                    fail("checkpoint_forward_only", "\(key): from version \(earlier.version) (\(earlier.cursor ?? "nil")) to \(later.version) (\(later.cursor ?? "nil"))")
                    break
                }
            }
        }
        return violations
    }
}
