import Logging
import MarketplaceCore
import NIOSSL
import PostgresNIO
import Synchronization

/// The service's Postgres: postgres-nio's pooled client plus what the health and metrics endpoints
/// need to know about it. Run ``client`` as a service (it is one) before the first query.
public struct Database: Sendable {
    public let client: PostgresClient
    public let configuration: AppConfiguration.Database
    private let usage: Usage

    /// Counts leases in flight: postgres-nio keeps its own pool figures internal.
    private final class Usage: Sendable {
        let inUse = Atomic<Int>(0)
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
    }

    private static func tls(_ mode: AppConfiguration.Database.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    public var poolFigures: PoolFigures {
        PoolFigures(maxConnections: configuration.poolSize, inUse: usage.inUse.load(ordering: .relaxed))
    }

    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        usage.inUse.add(1, ordering: .relaxed)
        defer { usage.inUse.subtract(1, ordering: .relaxed) }
        return try await client.withConnection(isolation: isolation, body)
    }

    /// Runs `body` in a transaction; errors thrown by `body` come back unwrapped
    /// (postgres-nio wraps them in `PostgresTransactionError`).
    public func withTransaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        usage.inUse.add(1, ordering: .relaxed)
        defer { usage.inUse.subtract(1, ordering: .relaxed) }
        do {
            return try await client.withTransaction(logger: logger, isolation: isolation, body)
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
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

    /// Calls `notified` with each notification's payload on `channel` until cancelled, on a connection of its own,
    /// listening again a second after the connection drops (what was notified meanwhile is the caller's poll's to find).
    public func listen(_ channel: String, logger: Logger, _ notified: @Sendable (String) -> Void) async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    for try await notification in try await connection.listen(channel) { notified(notification.payload) }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("notifications interrupted; listening again shortly", metadata: ["channel": "\(channel)", "error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
