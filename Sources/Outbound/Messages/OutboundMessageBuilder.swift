import Foundation
import MarketplaceCore
import Storage

/// One message's content before it is addressed to endpoints.
public struct OutboundPayload: Sendable, Equatable {
    public var type: String
    public var companyId: UUID?
    /// Messages of one stream go out in order: `company/resource` for changes, `lifecycle/company` for the others.
    public var stream: String
    public var body: String
    /// Where it stands in the logs: messages are made in this order.
    public var position: ChangePosition
}

/// Turns a batch of the change log and of lifecycle events into message payloads, and payloads into messages for the
/// endpoints that want them. Pure: the dispatcher reads and writes around it.
public enum OutboundMessageBuilder {
    public static let maxChanges = 100
    public static let maxBytes = 256 << 10

    /// Changes of one committed write (one position xid) for one company and resource make one message, split past
    /// ``maxChanges`` or ``maxBytes``. `cursor_from` is where the (company, resource) stream stood before the message's
    /// first change (`streamStarts`, keyed by `OutboundLogTable.streamKey`), `cursor_to` its last change: consecutive
    /// messages of a stream chain exactly. Returns the payloads in feed order and where each stream ends.
    public static func payloads(
        changes: [ChangeRecord], events: [OutboundEventRecord], streamStarts: [String: ChangePosition], cursors: ChangeCursor
    ) -> (payloads: [OutboundPayload], streamEnds: [String: (companyId: UUID, resource: Resource, position: ChangePosition)]) {
        var payloads: [OutboundPayload] = []
        var streams: [String: ChangePosition] = streamStarts
        var ends: [String: (companyId: UUID, resource: Resource, position: ChangePosition)] = [:]
        // Groups in the making, by stream: the write's xid and its changes so far.
        var open: [String: (xid: UInt64, changes: [ChangeRecord], bytes: Int)] = [:]
        var openOrder: [String] = []

        func close(_ key: String) {
            guard let group = open.removeValue(forKey: key), let first = group.changes.first, let last = group.changes.last else { return }
            openOrder.removeAll { $0 == key }
            let from = streams[key] ?? ChangePosition(xid: 0, seq: 0)
            var body = "{\"type\":\"\(OutboundEventType.changed(first.resource))\",\"timestamp\":\"\(first.occurredAt)\",\"data\":{"
            body += "\"company_id\":\"\(first.companyId.lowercasedString)\",\"resource\":\"\(first.resource.rawValue)\""
            body += ",\"cursor_from\":\"\(cursors.encode(from, companyId: first.companyId))\""
            body += ",\"cursor_to\":\"\(cursors.encode(last.position, companyId: first.companyId))\",\"changes\":["
            for (index, change) in group.changes.enumerated() {
                if index > 0 { body += "," }
                change.writeJSON(to: &body)
            }
            body += "]}}"
            payloads.append(OutboundPayload(type: OutboundEventType.changed(first.resource), companyId: first.companyId, stream: key,
                                            body: body, position: first.position))
            streams[key] = last.position
            ends[key] = (first.companyId, first.resource, last.position)
        }

        for event in events {
            var body = "{\"type\":"
            JSONValue.writeString(event.type, to: &body)
            body += ",\"timestamp\":\"\(event.occurredAt)\",\"data\":\(event.data)}"
            payloads.append(OutboundPayload(type: event.type, companyId: event.companyId,
                                            stream: "lifecycle/" + (event.companyId?.lowercasedString ?? "none"), body: body, position: event.position))
        }

        for change in changes {
            let key = OutboundLogTable.streamKey(change.companyId, change.resource.rawValue)
            // Another write's change: the groups it follows are complete (in feed order, before it).
            for other in openOrder where open[other]!.xid != change.position.xid { close(other) }
            if let group = open[key], group.changes.count >= maxChanges || group.bytes + change.data.utf8.count + 400 > maxBytes {
                close(key)
            }
            if open[key] == nil {
                open[key] = (change.position.xid, [], 0)
                openOrder.append(key)
            }
            open[key]!.changes.append(change)
            open[key]!.bytes += change.data.utf8.count + 400
        }
        for key in openOrder { close(key) }
        payloads.sort { $0.position < $1.position }
        return (payloads, ends)
    }

    /// Each payload addressed to every endpoint that wants it, in payload order; a disabled endpoint's messages are
    /// kept as failed, for `recover`.
    public static func messages(_ payloads: [OutboundPayload], endpoints: [WebhookEndpointRecord], newId: () -> String) -> [NewWebhookMessage] {
        var messages: [NewWebhookMessage] = []
        for payload in payloads {
            for endpoint in endpoints where endpoint.wants(payload.type, company: payload.companyId) {
                let enabled = endpoint.status == .enabled
                messages.append(NewWebhookMessage(
                    messageId: newId(), endpointId: endpoint.id, eventType: payload.type, companyId: payload.companyId, stream: payload.stream,
                    body: payload.body, status: enabled ? .pending : .failed, lastError: enabled ? nil : "the endpoint was disabled"))
            }
        }
        return messages
    }
}
