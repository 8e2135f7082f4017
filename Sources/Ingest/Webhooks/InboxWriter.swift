import CoreMetrics
import Logging
import NIOCore
import NIOPosix
import MarketplaceCore
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization

/// Group commit for the inbox: webhooks arriving together are stored together, each batch in one
/// transaction (events, their jobs, sync-state changes), and every request is answered only after the
/// commit that holds its event. Nango's retries of one delivery arrive together too; the unique index
/// keeps the first and the others answer as repeats. A batch that fails as a whole is retried one
/// event at a time, so one bad event cannot refuse its neighbours.
///
/// Runs as a service with `writers` loops. A submission made before it runs waits for it (the HTTP server
/// may start first; the submission's own timeout bounds the wait); after it stops, submissions fail at
/// once (the caller answers 503 and Nango retries).
public final class InboxWriter: Service, Sendable {
    public typealias Outcome = WebhookIntake.Outcome

    /// A submission's answer: resumed exactly once, by the writer or by cancellation.
    final class Ticket: Sendable {
        let classification: WebhookClassification
        private let waiter = Mutex<CheckedContinuation<Outcome, any Error>?>(nil)
        /// Gives back the ticket's bytes to the writer's budget when the ticket (and the body it holds) is freed:
        /// an answered ticket can still sit in the queue or a batch, holding its body, until a writer passes it.
        private let release: @Sendable () -> Void

        init(_ classification: WebhookClassification, _ continuation: CheckedContinuation<Outcome, any Error>, release: @escaping @Sendable () -> Void) {
            self.classification = classification
            self.release = release
            waiter.withLock { $0 = continuation }
        }

        var isWaiting: Bool { waiter.withLock { $0 != nil } }

        func resolve(_ result: Result<Outcome, any Error>) {
            waiter.withLock { $0.take() }?.resume(with: result)
        }

        deinit { release() }
    }

    public enum Unavailable: Error, CustomStringConvertible {
        case notRunning
        /// The bodies waiting for a commit already hold `maxQueuedBytes` (Postgres is slow or hung).
        case full

        public var description: String {
            switch self {
            case .notRunning: "the inbox writer is not running"
            case .full: "the inbox queue is full"
            }
        }
    }

    struct Queue {
        var tickets: [Ticket] = []
        /// Set at graceful shutdown and after `run` ends: from then on submissions are refused.
        var stopped = false
        /// Writers busy with batches; at most `writers`.
        var active = 0
    }

    let database: Database
    private let timers: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    /// A batch gives up after this long: its requests have answered 503 by then (Nango retries them).
    let batchTimeout: Duration
    let writers: Int
    let maxBatch: Int
    let logger: Logger
    private let queue = Mutex(Queue())
    /// Bytes of webhook bodies accepted and not yet answered: bounded, so a hung Postgres cannot let outsiders
    /// grow memory without limit (past it, 503 and Nango retries).
    private let queuedBytes: ByteBudget
    public var maxQueuedBytes: Int { queuedBytes.capacity }
    /// Bytes held now by bodies accepted and not yet freed.
    public var queuedByteCount: Int { queuedBytes.inUse }
    private let wake: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation

    public init(
        database: Database, batchTimeout: Duration, writers: Int = 2, maxBatch: Int = 256, maxQueuedBytes: Int = 64 << 20, logger: Logger
    ) {
        self.queuedBytes = ByteBudget(capacity: maxQueuedBytes)
        self.database = database
        self.batchTimeout = batchTimeout
        self.writers = max(1, writers)
        self.maxBatch = max(1, maxBatch)
        self.logger = logger
        (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Stores the classified webhook with the next batch; returns after that batch committed, or throws
    /// ``TimeoutError`` after `timeout` (the event may still be written: a retry then answers as a repeat).
    /// Cancelled or timed out before its batch was taken, the event is not written.
    public func store(_ classification: WebhookClassification, timeout: Duration) async throws -> Outcome {
        // Bodies count with a fixed overhead each, so a flood of tiny ones is bounded too.
        let size = classification.event.rawBody.utf8.count + 1024
        guard let reserved = queuedBytes.reserve(size) else {
            Counter(label: "webhook_inbox_refused_full_total").increment()
            throw Unavailable.full
        }
        Gauge(label: "webhook_inbox_queued_bytes").record(reserved)
        let release: @Sendable () -> Void = { [queuedBytes] in
            Gauge(label: "webhook_inbox_queued_bytes").record(queuedBytes.release(size))
        }
        let holder = Mutex<Ticket?>(nil)
        let expires = ContinuousClock.now + timeout
        // The deadline is an event-loop timer: far cheaper per request than a task group with a sleeping child.
        let deadline = timers.next().scheduleTask(in: .nanoseconds(Int64(timeout / .nanoseconds(1)))) {
            holder.withLock { $0 }?.resolve(.failure(TimeoutError(timeout: timeout)))
        }
        defer { deadline.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ticket = Ticket(classification, continuation, release: release)
                holder.withLock { $0 = ticket }
                let accepted = queue.withLock { queue -> Bool in
                    guard !queue.stopped else { return false }
                    queue.tickets.append(ticket)
                    return true
                }
                guard accepted else { return ticket.resolve(.failure(Unavailable.notRunning)) }
                wakeContinuation.yield()
                // Either may have fired before the ticket was in `holder`.
                if Task.isCancelled { ticket.resolve(.failure(CancellationError())) }
                if ContinuousClock.now >= expires { ticket.resolve(.failure(TimeoutError(timeout: timeout))) }
            }
        } onCancel: {
            holder.withLock { $0 }?.resolve(.failure(CancellationError()))
        }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            // On graceful shutdown: refuse new submissions; what is queued is still written.
            await withGracefulShutdownHandler {
                for await _ in wake { startWriters(in: &group) }
            } onGracefulShutdown: {
                self.queue.withLock { $0.stopped = true }
                self.wakeContinuation.finish()
            }
            startWriters(in: &group)
        }
        let stranded = queue.withLock { queue in
            queue.stopped = true
            defer { queue.tickets.removeAll() }
            return queue.tickets
        }
        for ticket in stranded { ticket.resolve(.failure(Unavailable.notRunning)) }
    }

    /// As many writers as there is queued work for, up to `writers`. A writer stops when it finds the
    /// queue empty, and that check and its exit are one step under the lock: no ticket is left unseen.
    private func startWriters(in group: inout DiscardingTaskGroup) {
        let count = queue.withLock { queue -> Int in
            let idle = writers - queue.active
            let wanted = min(idle, (queue.tickets.count + maxBatch - 1) / maxBatch)
            queue.active += max(0, wanted)
            return max(0, wanted)
        }
        for _ in 0..<count {
            group.addTask {
                while let batch = self.nextBatch() { await self.write(batch) }
            }
        }
    }

    /// Up to `maxBatch` waiting tickets (cancelled ones dropped); nil, and one writer fewer, when none wait.
    private func nextBatch() -> [Ticket]? {
        while true {
            let batch = queue.withLock { queue -> [Ticket]? in
                guard !queue.tickets.isEmpty else {
                    queue.active -= 1
                    return nil
                }
                let count = min(maxBatch, queue.tickets.count)
                defer { queue.tickets.removeFirst(count) }
                return Array(queue.tickets.prefix(count))
            }
            guard let batch else { return nil }
            let waiting = batch.filter(\.isWaiting)
            if !waiting.isEmpty { return waiting }
        }
    }

    private func write(_ batch: [Ticket], alone: Bool = false) async {
        do {
            let outcomes = try await withTimeout(batchTimeout) { [database, logger] in
                try await Inbox.store(batch.map(\.classification), database: database, logger: logger)
            }
            for (ticket, outcome) in zip(batch, outcomes) { ticket.resolve(.success(outcome)) }
        } catch {
            // Postgres refused a statement: perhaps one event's fault. A concurrent delivery of the same bytes: stored
            // again alone, each reads as the repeat it is. Down or slow: everyone's; no retry.
            let refused = (error as? PSQLError)?.isRefusedByServer == true && batch.count > 1
            guard !alone, refused || error is Inbox.ConcurrentDelivery else {
                for ticket in batch { ticket.resolve(.failure(error)) }
                return
            }
            logger.warning("inbox batch failed; storing its events one by one", metadata: ["events": "\(batch.count)", "error": "\(String(reflecting: error))"])
            for ticket in batch { await write([ticket], alone: true) }
        }
    }
}
