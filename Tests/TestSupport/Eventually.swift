import Testing

/// Polls until `condition` holds, recording a failure and throwing after `timeout`.
/// The bounds are generous on purpose: they only say how long a failure takes to show, and a loaded CI machine runs
/// fault suites beside the one waiting.
public func eventually(
    _ what: String, timeout: Duration = .seconds(90), every interval: Duration = .milliseconds(100),
    sourceLocation: SourceLocation = #_sourceLocation, diagnosis: (() async -> String)? = nil, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    // What the system looked like when the wait gave up: a flaky failure is then a lead, not a shrug.
    let state = await diagnosis?() ?? ""
    Issue.record("not within \(timeout): \(what)\(state.isEmpty ? "" : "; at that moment: " + state)", sourceLocation: sourceLocation)
    throw CancellationError()
}
