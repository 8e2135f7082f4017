/// Where one outbound message stands (`webhook_messages.status`; its CHECK lists the same).
public enum WebhookMessageStatus: String, Sendable, CaseIterable, Codable {
    /// Due now or at its next attempt.
    case pending
    /// A 2xx answered it.
    case delivered
    /// Its attempts are spent, or its endpoint was disabled: kept for `recover` and `resend`.
    case failed
}
