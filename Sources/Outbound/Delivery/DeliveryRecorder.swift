import Logging
import Storage
import Synchronization

/// Group commit for delivered attempts: each delivery hands its 2xx here and waits, and one statement records every
/// attempt that arrived while the previous statement ran. At thousands of deliveries a second that is tens of
/// statements a second, not thousands of transactions. (Failures are rare and take the per-message path, which may
/// disable an endpoint.)
final class DeliveryRecorder: Sendable {
    typealias Waiter = CheckedContinuation<Bool, any Error>

    private struct State {
        var waiting: [(delivered: WebhookMessagesTable.Delivered, waiter: Waiter)] = []
        var closed = false
    }

    struct Closed: Error {}

    private let state = Mutex(State())
    private let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation
    let database: Database
    let owner: String
    let maxBatch: Int
    let logger: Logger

    init(database: Database, owner: String, maxBatch: Int = 500, logger: Logger) {
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.database = database
        self.owner = owner
        self.maxBatch = maxBatch
        self.logger = logger
    }

    /// True once recorded; false when the message's lease was lost (another instance's attempt counts instead).
    /// Throws when the statement failed: the lease then lapses and the message is sent again.
    func record(_ delivered: WebhookMessagesTable.Delivered) async throws -> Bool {
        try await withCheckedThrowingContinuation { waiter in
            let accepted = state.withLock { state -> Bool in
                guard !state.closed else { return false }
                state.waiting.append((delivered, waiter))
                return true
            }
            if accepted { signal.yield() } else { waiter.resume(throwing: Closed()) }
        }
    }

    /// Writes until cancelled; then fails whatever still waits (its leases lapse).
    func run() async {
        for await _ in signals {
            await writeWaiting()
        }
        let left = state.withLock { state in
            state.closed = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for entry in left { entry.waiter.resume(throwing: CancellationError()) }
    }

    private func writeWaiting() async {
        while true {
            let batch = state.withLock { state in
                let batch = Array(state.waiting.prefix(maxBatch))
                state.waiting.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let delivered = batch.map(\.delivered)
                let recorded = try await database.withConnectionUnlessDropped { [owner, logger] db in
                    try await WebhookMessagesTable.finishDelivered(delivered, owner: owner, on: db, logger: logger)
                }
                for entry in batch { entry.waiter.resume(returning: recorded.contains(entry.delivered.id)) }
            } catch {
                for entry in batch { entry.waiter.resume(throwing: error) }
            }
        }
    }
}
