import Foundation

/// When a failed job runs again: exponential from the policy's initial backoff, capped, with "full jitter"
/// so that jobs failing together do not retry together. Pure; the random source is injectable for tests.
public enum Backoff {
    public static func delay<R: RandomNumberGenerator>(attempt: Int, policy: RetryPolicy, using random: inout R) -> Duration {
        let initial = Double(policy.initialBackoff.components.seconds) + Double(policy.initialBackoff.components.attoseconds) / 1e18
        let cap = Double(policy.maxBackoff.components.seconds) + Double(policy.maxBackoff.components.attoseconds) / 1e18
        let exponential = min(cap, initial * pow(2, Double(max(0, attempt - 1))))
        // Half fixed, half random: never sooner than half the exponential step.
        let seconds = exponential / 2 + Double.random(in: 0...(exponential / 2), using: &random)
        return .milliseconds(Int64(seconds * 1000))
    }

    public static func delay(attempt: Int, policy: RetryPolicy) -> Duration {
        var random = SystemRandomNumberGenerator()
        return delay(attempt: attempt, policy: policy, using: &random)
    }
}
