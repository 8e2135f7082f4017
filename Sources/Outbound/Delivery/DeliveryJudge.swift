import Foundation
import Storage

/// What an attempt's answer means (docs/outbound.md): only a 2xx delivers; 410 Gone disables the endpoint; anything else
/// is tried again on the schedule (429 and 503 not before their `Retry-After`), until the attempts are spent.
public struct DeliveryJudge: Sendable {
    public enum Verdict: Sendable, Equatable {
        case delivered
        case retry(after: Duration)
        /// The attempts are spent.
        case failed
        /// 410: the endpoint is gone; disable it.
        case gone
    }

    /// The delay before each attempt; the first entry is the first attempt's.
    public let schedule: [Duration]
    /// ±this share of each delay, so endpoints that failed together are not retried together.
    public let jitter: Double

    public init(schedule: [Duration], jitter: Double = 0.2) {
        self.schedule = schedule
        self.jitter = jitter
    }

    /// The verdict on attempt number `attempt` (from 1) answered with `status` (nil: no answer: a refused or timed-out
    /// connection), `retryAfter` its header's text; `random` in 0...1 picks the jitter.
    public func judge(attempt: Int, status: Int?, retryAfter: String?, random: Double) -> Verdict {
        if let status, (200..<300).contains(status) { return .delivered }
        if status == 410 { return .gone }
        guard attempt < schedule.count else { return .failed }
        let planned = schedule[attempt]
        var delay = planned * (1 + jitter * (2 * min(max(random, 0), 1) - 1))
        if let status, status == 429 || status == 503, let floor = Self.retryAfter(retryAfter) {
            delay = max(delay, floor)
        }
        return .retry(after: delay)
    }

    /// `Retry-After` in seconds or as an HTTP date.
    static func retryAfter(_ text: String?, now: Date = Date()) -> Duration? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Int(text), seconds >= 0 { return .seconds(min(seconds, 86_400)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return .seconds(max(0, min(date.timeIntervalSince(now), 86_400)))
    }
}
