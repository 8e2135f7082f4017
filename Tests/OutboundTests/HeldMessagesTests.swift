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

    static func held(_ id: Int64, _ endpoint: WebhookEndpointRecord) -> HeldMessages.Held {
        HeldMessages.Held(
            message: ClaimedWebhookMessage(id: id, messageId: "msg_\(id)", endpointId: endpoint.id, eventType: "contacts.changed",
                                           body: ByteBuffer(string: "{}"), attempt: 1),
            endpoint: endpoint, claimedAt: .now)
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
