/// Faults the control API can inject into the Nango API and into webhook delivery.
struct Faults: Codable, Sendable, Equatable {
    /// Added to every Nango API answer.
    var latencyMs: Int = 0
    /// The next N calls answer 429 with `Retry-After: retryAfterSeconds`.
    var next429: Int = 0
    /// Share of calls (0…1) answering 429.
    var rate429: Double = 0
    var retryAfterSeconds: Int = 1
    /// The next N calls answer 500.
    var next500: Int = 0
    var rate500: Double = 0
    /// Share of answers cut off halfway through the body.
    var truncateRate: Double = 0
    /// Share of answers whose body is not JSON at all.
    var malformedRate: Double = 0
    /// Webhooks: each delivered twice.
    var duplicateWebhooks = false
    /// Webhooks: each held back and delivered after the one that follows it.
    var reorderWebhooks = false
    /// Webhooks: the next N carry a wrong signature.
    var badSignatureNext: Int = 0
    /// The secret key lacks the read-credentials scope: connections come back with `credentials: {}`.
    var scopedKey = false

    enum CodingKeys: String, CodingKey {
        case latencyMs = "latency_ms", next429 = "next_429", rate429 = "rate_429", retryAfterSeconds = "retry_after_seconds"
        case next500 = "next_500", rate500 = "rate_500", truncateRate = "truncate_rate", malformedRate = "malformed_rate"
        case duplicateWebhooks = "duplicate_webhooks", reorderWebhooks = "reorder_webhooks", badSignatureNext = "bad_signature_next"
        case scopedKey = "scoped_key"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        latencyMs = try container.decodeIfPresent(Int.self, forKey: .latencyMs) ?? 0
        next429 = try container.decodeIfPresent(Int.self, forKey: .next429) ?? 0
        rate429 = try container.decodeIfPresent(Double.self, forKey: .rate429) ?? 0
        retryAfterSeconds = try container.decodeIfPresent(Int.self, forKey: .retryAfterSeconds) ?? 1
        next500 = try container.decodeIfPresent(Int.self, forKey: .next500) ?? 0
        rate500 = try container.decodeIfPresent(Double.self, forKey: .rate500) ?? 0
        truncateRate = try container.decodeIfPresent(Double.self, forKey: .truncateRate) ?? 0
        malformedRate = try container.decodeIfPresent(Double.self, forKey: .malformedRate) ?? 0
        duplicateWebhooks = try container.decodeIfPresent(Bool.self, forKey: .duplicateWebhooks) ?? false
        reorderWebhooks = try container.decodeIfPresent(Bool.self, forKey: .reorderWebhooks) ?? false
        badSignatureNext = try container.decodeIfPresent(Int.self, forKey: .badSignatureNext) ?? 0
        scopedKey = try container.decodeIfPresent(Bool.self, forKey: .scopedKey) ?? false
    }

    enum Decision: Equatable {
        case none
        case rateLimited(retryAfter: Int)
        case serverError
        case truncate
        case malformed
    }

    mutating func decide(using generator: inout SeededGenerator) -> Decision {
        if next429 > 0 { next429 -= 1; return .rateLimited(retryAfter: retryAfterSeconds) }
        if next500 > 0 { next500 -= 1; return .serverError }
        if rate429 > 0, generator.chance(rate429) { return .rateLimited(retryAfter: retryAfterSeconds) }
        if rate500 > 0, generator.chance(rate500) { return .serverError }
        if truncateRate > 0, generator.chance(truncateRate) { return .truncate }
        if malformedRate > 0, generator.chance(malformedRate) { return .malformed }
        return .none
    }

    mutating func takeBadSignature() -> Bool {
        guard badSignatureNext > 0 else { return false }
        badSignatureNext -= 1
        return true
    }
}
