import Foundation
import Testing

@testable import Outbound

@Suite struct EndpointGatesTests {
    @Test func anEndpointGetsAtMostItsSlotsAndOthersStayFree() {
        let gates = EndpointGates(maxInFlight: 2)
        let slow = UUID(), other = UUID()
        #expect(gates.enter(slow, rateLimit: nil) == .zero)
        #expect(gates.enter(slow, rateLimit: nil) == .zero)
        #expect(gates.enter(slow, rateLimit: nil) == nil, "its two slots are taken")
        #expect(gates.inFlight == [slow: 2])
        #expect(gates.enter(other, rateLimit: nil) == .zero, "another endpoint is not held back")
        #expect(gates.inFlight == [slow: 2, other: 1])
        gates.leave(slow)
        gates.leave(other)
        #expect(gates.inFlight == [slow: 1])
        #expect(gates.enter(slow, rateLimit: nil) == .zero)
    }

    @Test func aRateLimitSpacesStarts() {
        let gates = EndpointGates(maxInFlight: 8)
        let endpoint = UUID()
        let now = ContinuousClock.now
        #expect(gates.enter(endpoint, rateLimit: 4, now: now) == .zero)
        #expect(gates.enter(endpoint, rateLimit: 4, now: now) == .milliseconds(250))
        #expect(gates.enter(endpoint, rateLimit: 4, now: now) == .milliseconds(500))
        #expect(gates.enter(endpoint, rateLimit: 4, now: now + .seconds(2)) == .zero, "a quiet second later starts at once")
    }

    @Test func aSlowEndpointIsHeldOnlyWhatItCanBeSentInTime() {
        let gates = EndpointGates(maxInFlight: 8)
        let fast = UUID(), slow = UUID(), dead = UUID(), slowing = UUID()
        gates.answered(fast, after: .milliseconds(1))
        gates.answered(slow, after: .seconds(2))
        gates.answered(dead, after: .seconds(15))
        gates.answered(slowing, after: .seconds(1))
        gates.answered(slowing, after: .seconds(6))
        let holdings = gates.holdings(within: .milliseconds(12_500), ceiling: 256)
        #expect(holdings[fast] == 256, "fast: as many as the ceiling")
        #expect(holdings[slow] == 50, "8 slots, 2 s an answer: 50 start within 12.5 s")
        #expect(holdings[dead] == 8, "never fewer than its slots")
        #expect(holdings[slowing] == 50, "a moving average: 0.8 × 1 s + 0.2 × 6 s is 2 s")
        #expect(holdings.count == 4, "only endpoints answered lately")

        // One stream's chain goes one message at a time: as many as its pace sends within the window.
        let chains = gates.chainLengths(within: .seconds(8), ceiling: 16)
        #expect(chains[fast] == nil, "fast: the whole chain fits")
        #expect(chains[slow] == 4, "2 s an answer: four within 8 s")
        #expect(chains[dead] == 1, "never shorter than its head")
        #expect(chains[slowing] == 4)
    }

    @Test func anEndpointNotAnsweredForTenMinutesIsForgotten() {
        let gates = EndpointGates(maxInFlight: 8)
        let quiet = UUID(), busy = UUID()
        let start = ContinuousClock.now
        gates.answered(quiet, after: .seconds(2), now: start)
        gates.answered(busy, after: .seconds(2), now: start)
        gates.answered(busy, after: .seconds(2), now: start + .seconds(590))
        #expect(gates.holdings(within: .milliseconds(12_500), ceiling: 256, now: start + .seconds(599)) == [quiet: 50, busy: 50])
        #expect(gates.holdings(within: .milliseconds(12_500), ceiling: 256, now: start + .seconds(600)) == [busy: 50],
            "ten minutes without an answer: its pace is dropped")
        #expect(gates.chainLengths(within: .seconds(8), ceiling: 16, now: start + .seconds(1_189)) == [busy: 4])
        #expect(gates.holdings(within: .seconds(8), ceiling: 16, now: start + .seconds(1_190)).isEmpty)
        gates.answered(quiet, after: .milliseconds(1), now: start + .seconds(1_200))
        #expect(gates.holdings(within: .seconds(8), ceiling: 16, now: start + .seconds(1_200)) == [quiet: 16],
            "an endpoint answered again starts a new pace, not the forgotten one's average")
    }
}
