import Foundation
import NIOCore
import Testing

@testable import Outbound
@testable import Storage

@Suite struct HeldMessagesTests {
    static func endpoint(_ id: UUID, rateLimit: Int? = nil) -> WebhookEndpointRecord {
        WebhookEndpointRecord(
            id: id, url: "http://127.0.0.1:9/hooks", description: nil, eventTypes: nil, companyId: nil, rateLimit: rateLimit, status: .enabled,
            disabledReason: nil, secretSealed: [], previousSecretSealed: nil, previousSecretUntil: nil, failingSince: nil, lastSuccessAt: nil,
            createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 0))
    }

    static func held(_ id: Int64, _ endpoint: WebhookEndpointRecord, after: Int64? = nil) -> HeldMessages.Held {
        HeldMessages.Held(
            message: ClaimedWebhookMessage(id: id, messageId: "msg_\(id)", endpointId: endpoint.id, eventType: "contacts.changed",
                                           body: ByteBuffer(string: "{}"), attempt: 1, after: after),
            endpoint: endpoint, claimedAt: .now)
    }

    @Test func aChainsMessagesStartOneAfterAnotherEachAfterTheOneBeforeIsDelivered() {
        let gates = EndpointGates(maxInFlight: 4)
        let endpoint = Self.endpoint(UUID())
        let held = HeldMessages()
        // Stream a: 1 → 2 → 4; stream b: 3 → 5; 6 is a retry on its own.
        let a1 = Self.held(1, endpoint), a2 = Self.held(2, endpoint, after: 1), b3 = Self.held(3, endpoint)
        let a4 = Self.held(4, endpoint, after: 2), b5 = Self.held(5, endpoint, after: 3), r6 = Self.held(6, endpoint)
        held.add([a1, a2, b3, a4, b5, r6])

        #expect(held.startable(gates).map(\.held.message.id) == [1, 3, 6], "the heads and the retry; the followers wait")
        #expect(held.startable(gates).isEmpty, "a slot is free, but every follower's message before it has no answer")
        #expect(held.answered(a1.message, delivered: true).isEmpty)
        #expect(held.startable(gates).map(\.held.message.id) == [2], "a1 delivered: a2's turn")
        gates.leave(endpoint.id)
        gates.leave(endpoint.id)
        #expect(held.startable(gates).isEmpty, "a4 waits for a2 and b5 for b3, free slots or not")

        // b3 answered otherwise: b5 must not go before it, so it comes back to be handed back; a's chain goes on.
        #expect(held.answered(b3.message, delivered: false).map(\.message.id) == [5])
        #expect(held.answered(a2.message, delivered: true).isEmpty)
        #expect(held.startable(gates).map(\.held.message.id) == [4])
        #expect(held.total == 0)
    }

    @Test func aMessageHandedBackTakesEveryMessageBehindItInItsChainBack() {
        let gates = EndpointGates(maxInFlight: 8)
        let endpoint = Self.endpoint(UUID()), other = Self.endpoint(UUID())
        let held = HeldMessages()
        let first = Self.held(1, endpoint)
        held.add([first, Self.held(2, endpoint, after: 1), Self.held(3, endpoint, after: 2), Self.held(4, endpoint), Self.held(5, other, after: 9)])
        #expect(held.startable(gates).map(\.held.message.id).sorted() == [1, 4, 5], "5 follows a message this instance does not hold")
        #expect(held.answered(first.message, delivered: false).map(\.message.id) == [2, 3], "the whole chain behind it, in order")
        #expect(held.total == 0)
    }

    @Test func heldMessagesStartOldestFirstAsSlotsFree() {
        let gates = EndpointGates(maxInFlight: 2)
        let busy = Self.endpoint(UUID()), quiet = Self.endpoint(UUID())
        let held = HeldMessages()
        held.add([Self.held(1, busy), Self.held(2, busy), Self.held(3, quiet), Self.held(4, busy), Self.held(5, busy)])
        #expect(held.counts == [busy.id: 4, quiet.id: 1])
        #expect(held.total == 5)

        let first = held.startable(gates)
        #expect(first.count == 3)
        #expect(first.filter { $0.held.endpoint.id == busy.id }.map(\.held.message.id) == [1, 2], "two slots: the two oldest")
        #expect(first.filter { $0.held.endpoint.id == quiet.id }.map(\.held.message.id) == [3], "the other endpoint is not held back")
        #expect(held.counts == [busy.id: 2])
        #expect(held.startable(gates).isEmpty, "no slot is free until an answer")

        gates.leave(busy.id)
        #expect(held.startable(gates).map(\.held.message.id) == [4])
        gates.leave(busy.id)
        gates.leave(busy.id)
        #expect(held.startable(gates).map(\.held.message.id) == [5])
        #expect(held.counts.isEmpty)
        #expect(held.total == 0)
    }

    @Test func aRateLimitedEndpointsHeldMessagesWaitTheirTurn() {
        let gates = EndpointGates(maxInFlight: 8)
        let limited = Self.endpoint(UUID(), rateLimit: 2)
        let held = HeldMessages()
        held.add([Self.held(1, limited), Self.held(2, limited), Self.held(3, limited)])
        let now = ContinuousClock.now
        let started = held.startable(gates, now: now)
        #expect(started.map(\.held.message.id) == [1, 2, 3])
        #expect(started.map(\.wait) == [.zero, .milliseconds(500), .seconds(1)])
    }

    @Test func removingAllEmptiesEveryQueue() {
        let held = HeldMessages()
        let one = Self.endpoint(UUID()), two = Self.endpoint(UUID())
        held.add([Self.held(1, one), Self.held(2, two), Self.held(3, one)])
        #expect(held.removeAll().map(\.message.id).sorted() == [1, 2, 3])
        #expect(held.total == 0)
        #expect(held.startable(EndpointGates(maxInFlight: 8)).isEmpty)
    }
}
