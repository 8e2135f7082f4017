import Foundation
import MarketplaceCore
import Testing

@testable import Outbound
@testable import Storage

@Suite struct OutboundMessageBuilderTests {
    static let company = UUID(uuidString: "9b1f0000-0000-0000-0000-000000000001")!
    static let other = UUID(uuidString: "9b1f0000-0000-0000-0000-000000000002")!
    let cursors = ChangeCursor(secret: "test-secret")

    static func change(_ xid: UInt64, _ seq: Int64, _ resource: Resource = .contacts, company: UUID = company) -> ChangeRecord {
        ChangeRecord(position: ChangePosition(xid: xid, seq: seq), companyId: company, resource: resource, resourceId: UUID(),
                     externalId: "e\(seq)", kind: .updated, occurredAt: "2026-12-07T10:00:00.000000Z", data: #"{"n":\#(seq)}"#)
    }

    func body(_ payload: OutboundPayload) throws -> JSONValue { try JSONValue.parse(Array(payload.body.utf8)) }

    /// One write of 250 contacts is three messages of 100, 100 and 50, chained: each `cursor_from` is the one before's
    /// `cursor_to`, the first starts where the stream stood, the last ends at the write's last change.
    @Test func oneLargeWriteSplitsIntoChainedMessagesOfAHundred() throws {
        let changes = (1...250).map { Self.change(7, Int64($0)) }
        let start = ChangePosition(xid: 5, seq: 0)
        let key = OutboundLogTable.streamKey(Self.company, "contacts")
        let built = OutboundMessageBuilder.payloads(changes: changes, events: [], streamStarts: [key: start], cursors: cursors)
        try #require(built.payloads.count == 3)
        let bodies = try built.payloads.map(body)
        #expect(bodies.map { Self.count($0["data"]?["changes"]) } == [100, 100, 50])
        #expect(bodies.allSatisfy { $0["type"]?.string == "contacts.changed" })
        #expect(bodies[0]["data"]?["cursor_from"]?.string == cursors.encode(start, companyId: Self.company))
        #expect(bodies[0]["data"]?["cursor_to"]?.string == cursors.encode(ChangePosition(xid: 7, seq: 100), companyId: Self.company))
        #expect(bodies[1]["data"]?["cursor_from"] == bodies[0]["data"]?["cursor_to"])
        #expect(bodies[2]["data"]?["cursor_from"] == bodies[1]["data"]?["cursor_to"])
        #expect(bodies[2]["data"]?["cursor_to"]?.string == cursors.encode(ChangePosition(xid: 7, seq: 250), companyId: Self.company))
        #expect(built.streamEnds[key]?.position == ChangePosition(xid: 7, seq: 250))
        #expect(bodies[0]["data"]?["company_id"]?.string == Self.company.lowercasedString)
    }

    /// Two writes, two companies, two resources: a message per (write, company, resource), in feed order, each stream
    /// chained on its own; a lifecycle event between them keeps its place.
    @Test func writesCompaniesAndResourcesEachMakeTheirOwnMessages() throws {
        let changes = [Self.change(7, 1), Self.change(7, 2, .products), Self.change(7, 3, company: Self.other), Self.change(9, 5), Self.change(9, 6)]
        let event = OutboundEventRecord(position: ChangePosition(xid: 8, seq: 4), type: "connection.refresh_failed", companyId: Self.company,
                                        data: #"{"status":"refresh_failed"}"#, occurredAt: "2026-12-07T10:00:01.000000Z")
        let built = OutboundMessageBuilder.payloads(changes: changes, events: [event], streamStarts: [:], cursors: cursors)
        #expect(built.payloads.map(\.type) == ["contacts.changed", "products.changed", "contacts.changed", "connection.refresh_failed", "contacts.changed"])
        #expect(built.payloads.map(\.position.seq) == [1, 2, 3, 4, 5])
        let bodies = try built.payloads.map(body)
        #expect(bodies.map { Self.count($0["data"]?["changes"]) } == [1, 1, 1, -1, 2], "the lifecycle event carries no changes")
        // The company's contacts: the second message starts where the first ended; a stream never seen starts at the origin.
        #expect(bodies[4]["data"]?["cursor_from"] == bodies[0]["data"]?["cursor_to"])
        #expect(bodies[0]["data"]?["cursor_from"]?.string == cursors.encode(ChangePosition(xid: 0, seq: 0), companyId: Self.company))
        #expect(bodies[3]["data"]?["status"]?.string == "refresh_failed")
        #expect(built.payloads[3].stream == "lifecycle/" + Self.company.lowercasedString)
    }

    @Test func messagesGoToTheEndpointsThatWantThemAndADisabledOneKeepsThemFailed() {
        func endpoint(_ types: [String]?, company: UUID?, status: WebhookEndpointStatus = .enabled) -> WebhookEndpointRecord {
            WebhookEndpointRecord(id: UUID(), url: "https://x", description: nil, eventTypes: types, companyId: company, rateLimit: nil, status: status,
                                  disabledReason: nil, secretSealed: [], previousSecretSealed: nil, previousSecretUntil: nil, failingSince: nil,
                                  lastSuccessAt: nil, createdAt: Date(), updatedAt: Date())
        }
        let all = endpoint(nil, company: nil), contactsOnly = endpoint(["contacts.changed"], company: nil)
        let otherCompany = endpoint(nil, company: Self.other), disabled = endpoint(nil, company: nil, status: .disabled)
        let built = OutboundMessageBuilder.payloads(changes: [Self.change(7, 1), Self.change(7, 2, .products)], events: [], streamStarts: [:], cursors: cursors)
        var next = 0
        let messages = OutboundMessageBuilder.messages(built.payloads, endpoints: [all, contactsOnly, otherCompany, disabled]) {
            next += 1
            return "msg_\(next)"
        }
        #expect(messages.map(\.endpointId) == [all.id, contactsOnly.id, disabled.id, all.id, disabled.id])
        #expect(messages.map(\.status) == [.pending, .pending, .failed, .pending, .failed])
        #expect(Set(messages.map(\.messageId)).count == 5)
    }

    static func count(_ value: JSONValue?) -> Int {
        guard case .array(let items)? = value else { return -1 }
        return items.count
    }
}
