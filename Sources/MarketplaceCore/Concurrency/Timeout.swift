/// An operation did not finish within its deadline.
public struct TimeoutError: Error, Sendable, Equatable, CustomStringConvertible {
    public let timeout: Duration
    public init(timeout: Duration) { self.timeout = timeout }
    public var description: String { "timed out after \(timeout)" }
}

/// Runs `operation`, cancelling it and throwing ``TimeoutError`` when it outlives `timeout`.
/// The operation must honour cancellation (postgres-nio's pool lease does), or this waits for it.
public func withTimeout<Result: Sendable>(
    _ timeout: Duration,
    operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimeoutError(timeout: timeout)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}
