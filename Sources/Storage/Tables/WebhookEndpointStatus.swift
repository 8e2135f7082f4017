/// Whether an outbound webhook endpoint is sent messages (`webhook_endpoints.status`; its CHECK lists the same).
public enum WebhookEndpointStatus: String, Sendable, CaseIterable, Codable {
    case enabled
    /// By ops, by a 410 from the endpoint, or after failing for `OUTBOUND_DISABLE_AFTER`: its messages are kept.
    case disabled
}
