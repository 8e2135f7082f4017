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
}
