import Logging
import MarketplaceCore
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The service's Postgres: postgres-nio's pooled client, the one connection every `LISTEN` shares, and what the
/// health and metrics endpoints need to know about them. Run it as a service (``run()``) before the first query.
public struct Database: Service {
    public let client: PostgresClient
    public let configuration: AppConfiguration.Database
    private let usage: Usage
    private let notifications: NotificationHub

    /// Calls waiting for a connection and the connections leased: postgres-nio keeps its own pool figures internal.
    /// A leased connection the server closes leaves the pool's count at once (postgres-nio's `connectionClosed`), and
    /// so this one, though a call stuck on it may never return (see ConnectionWatch).
    private final class Usage: Sendable {
        let waiting = Atomic<Int>(0)
        /// A connection is leased to one call at a time, so it is its own key.
        let leased = Mutex<[ObjectIdentifier: PostgresConnection]>([:])

        var open: Int {
            leased.withLock { $0.values.count(where: { !$0.isClosed }) }
        }
    }

    public struct PoolFigures: Sendable, Equatable {
        public let maxConnections: Int
        public let inUse: Int
    }

    public init(configuration: AppConfiguration.Database, logger: Logger) {
        var settings = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password?.value, database: configuration.name, tls: Self.tls(configuration.tls)
        )
        settings.options.maximumConnections = configuration.poolSize
        settings.options.connectTimeout = .seconds(5)
        settings.options.additionalStartupParameters = [
            ("application_name", "marketplace"),
            ("statement_timeout", String(configuration.statementTimeout / .milliseconds(1))),
        ]
        self.client = PostgresClient(configuration: settings, backgroundLogger: logger)
        self.configuration = configuration
        self.usage = Usage()
        self.notifications = NotificationHub(logger: logger)
    }

    /// The pool, and the listening connection while anyone listens, until cancelled or shut down.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            // Stopped with the pool: its listeners, who stop before it, have left by then.
            group.addTask { await cancelWhenGracefulShutdown { await notifications.run(database: self) } }
        }
    }

    private static func tls(_ mode: AppConfiguration.Database.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    public var poolFigures: PoolFigures {
        PoolFigures(maxConnections: configuration.poolSize, inUse: usage.waiting.load(ordering: .relaxed) + usage.open)
    }

    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        usage.waiting.add(1, ordering: .relaxed)
        var waiting = true
        defer { if waiting { usage.waiting.subtract(1, ordering: .relaxed) } }
        return try await client.withConnection(isolation: isolation) { connection in
            waiting = false
            usage.waiting.subtract(1, ordering: .relaxed)
            let key = ObjectIdentifier(connection)
            usage.leased.withLock { $0[key] = connection }
            defer { _ = usage.leased.withLock { $0.removeValue(forKey: key) } }
            let watch = ConnectionWatch.current
            let token = watch?.hold(connection)
            defer { if let token { watch?.release(token) } }
            // A statement sent on a closed connection never returns (see ConnectionWatch): one the pool handed out
            // just as the server dropped it is refused here instead.
            guard !connection.isClosed else { throw ConnectionClosedError() }
            return try await body(connection)
        }
    }

    /// Runs `body` in a transaction; the error `body` throws comes back as it is. Written here rather than taken from
    /// postgres-nio, whose `withTransaction` sends `ROLLBACK` on a connection the server has closed, a call that never
    /// returns (see ConnectionWatch): a closed connection has no transaction left to end, so nothing is sent on it.
    public func withTransaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await withConnection(isolation: isolation) { connection in
            try await connection.query("BEGIN", logger: logger)
            let value: Result
            do {
                value = try await body(connection)
            } catch {
                // The error can come back while the channel still reads open, its close under way: the error says so.
                let lost = (error as? PSQLError)?.isConnectionLost ?? false
                if !lost, !connection.isClosed { _ = try? await connection.query("ROLLBACK", logger: logger) }
                throw error
            }
            guard !connection.isClosed else { throw ConnectionClosedError() }
            try await connection.query("COMMIT", logger: logger)
            return value
        }
    }

    /// A query whose rows are collected before the connection goes back to the pool.
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await withConnection { connection in
            try await connection.query(query, logger: logger).collect()
        }
    }

    /// `SELECT 1` within `timeout`: how long Postgres took to answer, or an error (``TimeoutError`` when down).
    public func ping(timeout: Duration, logger: Logger) async throws -> Duration {
        try await withTimeout(timeout) {
            let clock = ContinuousClock()
            let start = clock.now
            try await self.query("SELECT 1", logger: logger)
            return clock.now - start
        }
    }

    /// Calls `notified` with each notification's payload on `channel` until cancelled, and `listening` whenever
    /// listening on it (re)starts: what was notified while no one listened is the caller's to find then (its poll's).
    /// Every channel of the process shares one connection (``NotificationHub``).
    public func listen(
        _ channel: String, listening: @escaping @Sendable () -> Void = {}, _ notified: @escaping @Sendable (String) -> Void
    ) async {
        let id = notifications.add(.init(channel: channel, listening: listening, notified: notified))
        defer { notifications.remove(id) }
        let (cancelled, cancel) = AsyncStream.makeStream(of: Never.self)
        await withTaskCancellationHandler {
            for await _ in cancelled {}
        } onCancel: {
            cancel.finish()
        }
    }
}
