import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Storage

/// Makes messages: reads the change log and the lifecycle events after its durable position (only what no running
/// transaction can still add to), builds the messages every endpoint wants, stores them and moves the position, all
/// in one transaction. So every committed change gets its messages once, whichever instance's dispatcher (one at a
/// time: the position row is locked) gets there, and however often instances die. Also deletes expired messages.
public struct OutboundDispatcher: Service {
    let database: Database
    let cursors: ChangeCursor
    let retention: Duration
    let pollInterval: Duration
    let batch: Int
    let metrics: any MetricsFactory
    let logger: Logger

    public init(database: Database, cursorSecret: String, retention: Duration, pollInterval: Duration = .milliseconds(200),
                batch: Int = 1000, metrics: any MetricsFactory, logger: Logger) {
        self.metrics = metrics
        self.database = database
        self.cursors = ChangeCursor(secret: cursorSecret)
        self.retention = retention
        self.pollInterval = pollInterval
        self.batch = batch
        self.logger = logger
    }

    public func run() async throws {
        // Woken by commits (migration 0022's triggers notify `changes`), no more often than `minimumSpacing` so a busy
        // sync's commits share a batch; and every `pollInterval` (lifecycle events, and a lost listening connection).
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await database.listen(ChangesTable.channel, listening: { wake.yield() }) { _ in wake.yield() } }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: pollInterval)
                    wake.yield()
                }
            }
            var lastCleanup = ContinuousClock.now - .seconds(3600)
            for await _ in wakes {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                let started = ContinuousClock.now
                var more = true
                while more, !Task.isShuttingDownGracefully, !Task.isCancelled {
                    do {
                        more = try await ConnectionWatch.givingUp { try await self.dispatchOnce() }
                        if ContinuousClock.now - lastCleanup > .seconds(3600) {
                            lastCleanup = .now
                            try await ConnectionWatch.givingUp { try await self.cleanup() }
                        }
                    } catch {
                        logger.warning("outbound: dispatching failed; trying again", metadata: ["error": "\(String(reflecting: error))"])
                        try? await Task.sleep(for: .seconds(1))
                        more = false
                    }
                }
                try? await Task.sleep(until: started + Self.minimumSpacing)
            }
            group.cancelAll()
        }
    }

    /// The least time between two rounds woken by commits.
    static let minimumSpacing = Duration.milliseconds(50)

    /// One batch; true when more is waiting.
    @discardableResult
    public func dispatchOnce() async throws -> Bool {
        try await database.withTransaction(logger: logger) { db -> Bool in
            guard let position = try await OutboundLogTable.lockPosition(on: db, logger: logger) else { return false }
            // Where the logs end, read before the endpoints: every write below it had ended before the endpoints were
            // read, so an endpoint this round does not see (registered since) is owed none of what it passes over.
            // Read after them, a write committed after an endpoint's registration could be passed over without it.
            let head = try await ChangesTable.head(on: db, logger: logger)
            let endpoints = try await WebhookEndpointsTable.allLocked(on: db, logger: logger)
            guard !endpoints.isEmpty else {
                // Nobody to tell: the position follows the end of the logs.
                if position < head { try await OutboundLogTable.movePosition(to: head, on: db, logger: logger) }
                return false
            }
            let changes = try await ChangesTable.read(companyId: nil, after: position, resources: nil, limit: batch, on: db, logger: logger)
            let events = try await OutboundLogTable.events(after: position, limit: batch, on: db, logger: logger)
            let end = min(changes.end, events.end, head)
            let taken = changes.changes.filter { $0.position <= end }
            let lifecycle = events.events.filter { $0.position <= end }
            guard position < end else { return false }

            // Each stream of the batch, with its first change here: a stream with no position yet starts where its
            // feed stood before that change.
            var keys: [(companyId: UUID, resource: Resource, position: ChangePosition)] = []
            var seen = Set<String>()
            for change in taken where seen.insert(OutboundLogTable.streamKey(change.companyId, change.resource.rawValue)).inserted {
                keys.append((change.companyId, change.resource, change.position))
            }
            var starts = try await OutboundLogTable.streams(keys.map { ($0.companyId, $0.resource) }, on: db, logger: logger)
            let unstarted = keys.filter { starts[OutboundLogTable.streamKey($0.companyId, $0.resource.rawValue)] == nil }
            starts.merge(try await OutboundLogTable.previousChanges(before: unstarted, on: db, logger: logger)) { current, _ in current }
            let built = OutboundMessageBuilder.payloads(changes: taken, events: lifecycle, streamStarts: starts, cursors: cursors)
            let messages = OutboundMessageBuilder.messages(built.payloads, endpoints: endpoints, newId: WebhookSigner.newMessageId)
            try await WebhookMessagesTable.insert(messages, on: db, logger: logger)
            try await OutboundLogTable.saveStreams(Array(built.streamEnds.values), on: db, logger: logger)
            try await OutboundLogTable.movePosition(to: end, on: db, logger: logger)
            Counter(label: "outbound_messages_created_total", factory: metrics).increment(by: messages.count)
            return changes.hasMore || events.events.count >= batch || taken.count < changes.changes.count || lifecycle.count < events.events.count
        }
    }

    func cleanup() async throws {
        let (messages, events) = try await database.withConnection { db in
            (try await WebhookMessagesTable.deleteExpired(olderThan: retention, on: db, logger: logger),
             try await OutboundLogTable.deleteExpired(olderThan: retention, on: db, logger: logger))
        }
        if messages + events > 0 {
            logger.info("outbound: expired messages deleted", metadata: ["messages": "\(messages)", "events": "\(events)"])
        }
    }
}
