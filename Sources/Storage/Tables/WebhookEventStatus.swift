/// A stored webhook's state (`webhook_events.status`; its CHECK constraint lists the same values).
public enum WebhookEventStatus: String, Sendable, CaseIterable, Codable {
    /// Stored; its job has not finished.
    case received
    case processing
    /// Its job finished.
    case processed
    /// It calls for no job.
    case ignored
    /// Its job died.
    case failed
}
