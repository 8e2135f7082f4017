import Foundation
import Query
import Testing

/// How held change-feed requests are woken (``ChangeSignals``), without a database. A wait that only its timeout can
/// end lasts at least that timeout (a sleep never ends early); one a signal ends returns far sooner than its own.
@Suite(.timeLimit(.minutes(2))) struct ChangeSignalsTests {
    let a = UUID()
    let b = UUID()

    /// True when the wait ran to its timeout: nothing woke it.
    static func waitedOut(_ hold: ChangeSignals.Hold) async -> Bool {
        let timeout = Duration.milliseconds(200)
        let started = ContinuousClock.now
        await hold.wait(timeout: timeout)
        return ContinuousClock.now - started >= timeout
    }

    /// True when something woke the wait long before its timeout of 60 s.
    static func woken(_ hold: ChangeSignals.Hold) async -> Bool {
        let started = ContinuousClock.now
        await hold.wait(timeout: .seconds(60))
        return ContinuousClock.now - started < .seconds(30)
    }

    @Test func aSignalWhileTheRequestReadsIsKeptForItsNextWait() async throws {
        let signals = ChangeSignals(capacity: 4)
        let hold = try #require(signals.hold(companyId: a))
        defer { hold.release() }
        signals.signal(companyId: a)
        #expect(await Self.woken(hold), "signalled before it waited: the wait returns at once")
        #expect(await Self.waitedOut(hold), "and took the signal: the next wait waits")
    }

    @Test func aParkedRequestIsWokenByItsCompanysSignal() async throws {
        let signals = ChangeSignals(capacity: 4)
        let hold = try #require(signals.hold(companyId: a))
        defer { hold.release() }
        async let woken = Self.woken(hold)
        try await Task.sleep(for: .milliseconds(100))
        signals.signal(companies: [b, a])
        #expect(await woken)
    }

    @Test func onlyItsOwnCompanysChangesWakeARequest() async throws {
        let signals = ChangeSignals(capacity: 4)
        let hold = try #require(signals.hold(companyId: a))
        defer { hold.release() }
        signals.signal(companyId: b)
        signals.signal(companies: [b])
        signals.signal(companies: [])
        #expect(await Self.waitedOut(hold))
    }

    @Test func theAllCompanyFeedWakesForAnyCompanysChanges() async throws {
        let signals = ChangeSignals(capacity: 4)
        let hold = try #require(signals.hold(companyId: nil))
        defer { hold.release() }
        signals.signal(companies: [])
        #expect(await Self.waitedOut(hold), "no company, no change")
        signals.signal(companyId: b)
        #expect(await Self.woken(hold))
        signals.signal(companies: [a])
        #expect(await Self.woken(hold))
    }

    @Test func placesAreBoundedAndStoppingAnswersEveryRequest() async throws {
        let signals = ChangeSignals(capacity: 2)
        let first = try #require(signals.hold(companyId: a))
        let second = try #require(signals.hold(companyId: nil))
        #expect(signals.hold(companyId: b) == nil, "a third place past the capacity of two")
        #expect(signals.held == 2)
        first.release()
        #expect(signals.held == 1)
        let third = try #require(signals.hold(companyId: b))
        async let parked = Self.woken(third)
        try await Task.sleep(for: .milliseconds(100))
        signals.signalAll(stopping: true)
        #expect(await parked)
        #expect(signals.isShuttingDown)
        #expect(signals.hold(companyId: a) == nil, "no request is held while stopping")
        #expect(await Self.woken(second), "a stopping instance never parks a request")
        #expect(await Self.woken(second), "not even a second time")
        second.release()
        third.release()
        #expect(signals.held == 0)
    }
}
