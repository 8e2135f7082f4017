import Logging
import PostgresNIO
import Synchronization

/// Every `LISTEN` of this process on one pooled connection, shared by whoever listens (the job workers, the outbound
/// dispatcher and delivery, the change feed's held requests), instead of a connection each out of the pool.
///
/// ``Database/run()`` runs ``run(database:)``: it takes a connection only while someone listens, `LISTEN`s every
/// channel asked for (more as they are asked for), hands each notification to the channel's listeners, and after a
/// lost connection listens again on a new one. Each listener is told whenever listening (re)starts on its channel: what
/// was notified while no one listened is its to find then.
final class NotificationHub: Sendable {
    struct Listener: Sendable {
        let channel: String
        let listening: @Sendable () -> Void
        let notified: @Sendable (String) -> Void
    }

    enum Event: Sendable {
        /// A listener came: its channel may be new.
        case asked
        /// A channel's notifications ended: the connection is lost.
        case ended(any Error)
    }

    private struct State {
        var listeners: [Int: Listener] = [:]
        var next = 0
        /// The channels `LISTEN`ed on the connection held now, and since when the first was.
        var listening: Set<String> = []
        var listeningSince: ContinuousClock.Instant?
        /// The connection loop's events for the connection it holds (or waits to take) now.
        var events: AsyncStream<Event>.Continuation?
    }

    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Adds a listener; told at once that listening runs when its channel is listened on already.
    func add(_ listener: Listener) -> Int {
        let (id, listeningAlready, events) = state.withLock { state in
            state.next += 1
            state.listeners[state.next] = listener
            return (state.next, state.listening.contains(listener.channel), state.events)
        }
        if listeningAlready { listener.listening() }
        events?.yield(.asked)
        return id
    }

    /// The channel stays listened on while the connection lasts: a later listener of it needs no new `LISTEN`.
    func remove(_ id: Int) {
        _ = state.withLock { $0.listeners.removeValue(forKey: id) }
    }

    var channels: Set<String> {
        state.withLock { Set($0.listeners.values.map(\.channel)) }
    }

    /// Until cancelled: holds a connection while anyone listens, and takes a new one a moment after losing it.
    func run(database: Database) async {
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled {
            let (events, post) = AsyncStream.makeStream(of: Event.self)
            state.withLock { $0.events = post }
            do {
                // A `LISTEN` or a notification stuck on a connection the server dropped is given up (ConnectionWatch).
                try await ConnectionWatch.givingUp { [self] in
                    var pending = events.makeAsyncIterator()
                    while channels.isEmpty {
                        guard await pending.next() != nil else { return }   // cancelled
                    }
                    try await database.withConnection { connection in
                        try await self.serve(connection, events: &pending, post: post)
                    }
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("the listening connection was lost; listening again shortly",
                               metadata: ["error": "\(String(reflecting: error))"])
            }
            let since = state.withLock { state in
                defer { (state.listening, state.listeningSince, state.events) = ([], nil, nil) }
                return state.listeningSince
            }
            post.finish()
            guard !Task.isCancelled else { break }
            // A connection that listened a while was lost, not refused: listen again soon.
            if let since, ContinuousClock.now - since >= .seconds(5) { backoff = .milliseconds(250) }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    /// `LISTEN`s each channel asked for on `connection` and hands its notifications on, until cancelled or a channel's
    /// notifications end (the connection is lost: thrown).
    private func serve(
        _ connection: PostgresConnection, events: inout AsyncStream<Event>.Iterator, post: AsyncStream<Event>.Continuation
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var listened: Set<String> = []
            repeat {
                for channel in channels.subtracting(listened).sorted() {
                    listened.insert(channel)
                    group.addTask { [self] in
                        do {
                            try await connection.listen(on: channel) { notifications in
                                began(channel)
                                for try await notification in notifications { deliver(notification.payload, on: channel) }
                            }
                            if !Task.isCancelled { post.yield(.ended(ConnectionClosedError())) }
                        } catch {
                            if !Task.isCancelled { post.yield(.ended(error)) }
                        }
                    }
                }
                guard let event = await events.next() else { break }   // cancelled
                if case .ended(let error) = event { throw error }
            } while !Task.isCancelled
            group.cancelAll()
        }
    }

    private func began(_ channel: String) {
        let told = state.withLock { state in
            state.listening.insert(channel)
            if state.listeningSince == nil { state.listeningSince = .now }
            return state.listeners.values.filter { $0.channel == channel }
        }
        for listener in told { listener.listening() }
    }

    private func deliver(_ payload: String, on channel: String) {
        let listeners = state.withLock { $0.listeners.values.filter { $0.channel == channel } }
        for listener in listeners { listener.notified(payload) }
    }
}
