import Testing
import TestSupport

/// The chaos suite's checker can fail: each invariant against a hand-written snapshot that breaks it, and a sound one.
@Suite struct ChaosInvariantTests {
    static var sound: ChaosSnapshot {
        var snapshot = ChaosSnapshot()
        snapshot.acknowledged = ["a", "b"]
        snapshot.stored = ["a": 1, "b": 1, "c": 1]   // "c" was refused once, retried and stored: fine
        snapshot.models = [.init(key: "hubspot/c1/Product", live: ["1", "2", "3"], stored: ["1", "2"], quarantined: ["3"])]
        snapshot.reads = [.init(instance: "A", path: "/products", expected: ["1", "2"], answered: ["1", "2"])]
        snapshot.checkpoints = ["hubspot/c1/Product": [.init(version: 1, cursor: "x"), .init(version: 1, cursor: "x"), .init(version: 3, cursor: "z")]]
        return snapshot
    }

    static func broken(_ change: (inout ChaosSnapshot) -> Void) -> [String] {
        var snapshot = sound
        change(&snapshot)
        return ChaosInvariants.check(snapshot).map(\.invariant)
    }

    @Test func aSoundSnapshotPasses() {
        #expect(ChaosInvariants.check(Self.sound).isEmpty)
    }

    @Test func eachBrokenPromiseIsNamed() {
        #expect(Self.broken { $0.stored["b"] = nil } == ["acknowledged_is_stored"])
        #expect(Self.broken { $0.stored["a"] = 2 } == ["stored_once"])
        #expect(Self.broken { $0.withoutJob = ["a"] } == ["stored_has_job"])
        #expect(Self.broken { $0.models[0].quarantined = [] } == ["converged"], "a live record neither stored nor quarantined")
        #expect(Self.broken { $0.models[0].stored.insert("9") } == ["converged"], "a record Nango deleted still stored")
        #expect(Self.broken { $0.reads[0].answered = ["2", "1"] } == ["no_stale_read"])
        #expect(Self.broken { $0.overdueRunningJobs = [7] } == ["no_job_stuck_running"])
        #expect(Self.broken { $0.checkpoints["hubspot/c1/Product"]?.append(.init(version: 2, cursor: "y")) } == ["checkpoint_forward_only"])
        #expect(Self.broken { $0.checkpoints["hubspot/c1/Product"]?[1].cursor = "w" } == ["checkpoint_forward_only"], "the same version, another cursor")
    }
}
