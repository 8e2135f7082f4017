import Synchronization

/// An operation did not finish within its deadline.
public struct TimeoutError: Error, Sendable, Equatable, CustomStringConvertible {
    public let timeout: Duration
    public init(timeout: Duration) { self.timeout = timeout }
    public var description: String { "timed out after \(timeout)" }
}

/// Runs `operation`, throwing ``TimeoutError`` when it outlives `timeout` (or `CancellationError` when the caller is
/// cancelled). Past the deadline the operation is cancelled and left behind, not waited for: a query on a connection
/// whose server stopped answering (frozen, partitioned, crashed mid-statement) ignores cancellation until TCP gives
/// up, and the caller must not wait that long. The operation's late result is dropped, so it must be safe to finish
/// unobserved (a late commit of a webhook batch: the sender's retry then answers as a repeat).
public func withTimeout<Result: Sendable>(
    _ timeout: Duration,
    operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withWatchdog(operation: operation) {
        try await Task.sleep(for: timeout)
        throw TimeoutError(timeout: timeout)
    }
}

/// Runs `operation` beside `watchdog`: the operation's result, or the error the watchdog throws first (or
/// `CancellationError` when the caller is cancelled). Whichever loses is cancelled and left behind, not waited for,
/// as ``withTimeout(_:operation:)`` leaves a stuck query; a watchdog that returns without throwing has nothing to
/// say, and the operation's result is awaited alone.
public func withWatchdog<Result: Sendable>(
    operation: @escaping @Sendable () async throws -> Result,
    watchdog: @escaping @Sendable () async throws -> Void
) async throws -> Result {
    let answer = Answer<Result>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            // Cancelled before it began: nothing is started.
            guard answer.start(continuation) else { return }
            let work = Task {
                do { answer.finish(.success(try await operation())) } catch { answer.finish(.failure(error)) }
            }
            let watch = Task {
                do { try await watchdog() } catch { if answer.finish(.failure(error)) { work.cancel() } }
            }
            answer.onFinish { watch.cancel(); work.cancel() }
        }
    } onCancel: {
        answer.finish(.failure(CancellationError()))
    }
}

/// The first of the operation, the watchdog and cancellation to finish resumes the caller; the others find it taken.
private final class Answer<Result: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result, any Error>?
        var finished = false
        var cleanup: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// False when the caller was cancelled before the continuation existed (it is resumed at once, throwing).
    func start(_ continuation: CheckedContinuation<Result, any Error>) -> Bool {
        let early = state.withLock { state -> Bool in
            if state.finished { return true }
            state.continuation = continuation
            return false
        }
        // Cancelled before the continuation existed.
        if early { continuation.resume(throwing: CancellationError()) }
        return !early
    }

    /// Runs `cleanup` once the answer is given (at once if it already was).
    func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.finished { return true }
            state.cleanup = cleanup
            return false
        }
        if now { cleanup() }
    }

    /// True when this call gave the answer.
    @discardableResult
    func finish(_ result: Swift.Result<Result, any Error>) -> Bool {
        let (continuation, cleanup, first) = state.withLock { state -> (CheckedContinuation<Result, any Error>?, (@Sendable () -> Void)?, Bool) in
            guard !state.finished else { return (nil, nil, false) }
            state.finished = true
            defer { state.continuation = nil; state.cleanup = nil }
            return (state.continuation, state.cleanup, true)
        }
        continuation?.resume(with: result)
        cleanup?()
        return first
    }
}
