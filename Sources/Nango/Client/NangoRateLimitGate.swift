/// Nango's rate limit is per account, not per call (docs/nango.md §2.2): once one call meets a 429, every call of
/// this instance waits for the window to reset instead of spending its own attempts against it.
actor NangoRateLimitGate {
    private var resumeAt: ContinuousClock.Instant?

    /// Holds every call until `instant` (a later pause wins; an earlier one changes nothing).
    func pause(until instant: ContinuousClock.Instant) {
        if let current = resumeAt, current >= instant { return }
        resumeAt = instant
    }

    /// How long a call must still wait, if at all.
    func remaining() -> Duration? {
        guard let resumeAt else { return nil }
        let left = resumeAt - .now
        if left <= .zero {
            self.resumeAt = nil
            return nil
        }
        return left
    }

    /// Waits out the pause, however often it is extended meanwhile.
    func wait() async throws {
        while let left = remaining() {
            try await Task.sleep(for: left)
        }
    }
}
