import Logging
import MarketplaceCore
import NIOPosix
import ServiceLifecycle

/// A Redis client: a few pipelined SwiftNIO connections (hiredis parses the replies).
///
/// Callers share connections; each command waits on a future, so no thread blocks and many requests
/// in flight cost one socket write each. Every command has a timeout (the configured one, or shorter
/// per call); a broken connection is dropped and the next call reopens it, so the client recovers
/// by itself when Redis comes back.
///
/// Run it as a service (or call ``shutdown()``) so its connections close.
public final class RedisClient: Service, Sendable {
    public struct Figures: Sendable, Equatable {
        public var maxConnections: Int
        public var open: Int
        public var idle: Int
        public var waiting: Int
        public var lastError: String?
    }

    private let settings: RedisConnection.Settings
    private let pool: RedisConnectionPool
    private let logger: Logger

    public init(configuration: AppConfiguration.Redis, logger: Logger, reconnectBackOff: Duration = .seconds(1)) {
        self.settings = .init(
            host: configuration.host, port: configuration.port, password: configuration.password?.value,
            database: configuration.database, connectTimeout: configuration.connectTimeout,
            commandTimeout: configuration.commandTimeout
        )
        self.pool = RedisConnectionPool(
            settings: settings, size: configuration.poolSize, group: MultiThreadedEventLoopGroup.singleton, backOff: reconnectBackOff)
        self.logger = logger
    }

    /// Waits for graceful shutdown, then closes the connections.
    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    public func shutdown() async throws {
        pool.close()
    }

    // MARK: Commands

    /// Sends one command and returns its reply; an error reply is thrown as ``RedisError/server(_:)``.
    @discardableResult
    public func send(_ command: RedisArgument...) async throws(RedisError) -> RedisValue {
        try await send(command)
    }

    @discardableResult
    public func send(_ command: [RedisArgument], timeout: Duration? = nil) async throws(RedisError) -> RedisValue {
        let reply = try await pipeline([command], timeout: timeout)[0]
        if case .error(let message) = reply { throw .server(message) }
        return reply
    }

    /// Sends several commands in one round trip and returns their replies in order.
    /// Error replies come back as ``RedisValue/error(_:)`` values: one failed command does not fail the rest.
    /// `timeout` (at most the configured command timeout) bounds the wait for the replies; opening a
    /// connection is bounded by the connect timeout.
    public func pipeline(_ commands: [[RedisArgument]], timeout: Duration? = nil) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        let connection: RedisConnection
        do {
            connection = try await pool.connection()
        } catch let error as RedisError {
            throw error
        } catch {
            throw .unavailable(String(describing: error))
        }
        do {
            return try await connection.execute(commands, timeout: min(timeout ?? settings.commandTimeout, settings.commandTimeout))
        } catch {
            if error.breaksConnection {
                pool.failed(error)
                logger.debug("redis command failed", metadata: ["error": "\(error)"])
            }
            throw error
        }
    }

    /// How long a `PING` took.
    public func ping() async throws(RedisError) -> Duration {
        let start = ContinuousClock.now
        let reply = try await send("PING")
        guard reply == .status("PONG") else { throw .unexpectedReply("\(reply)") }
        return ContinuousClock.now - start
    }

    public func get(_ key: String, timeout: Duration? = nil) async throws(RedisError) -> [UInt8]? {
        let reply = try await send(["GET", RedisArgument(key)], timeout: timeout)
        return reply.bytes
    }

    public func set(_ key: String, _ value: [UInt8], expiresIn ttl: Duration? = nil, timeout: Duration? = nil) async throws(RedisError) {
        var command: [RedisArgument] = ["SET", RedisArgument(key), RedisArgument(bytes: value)]
        if let ttl { command += ["PX", RedisArgument(Int(ttl / .milliseconds(1)))] }
        try await send(command, timeout: timeout)
    }

    @discardableResult
    public func delete(_ keys: [String]) async throws(RedisError) -> Int {
        guard !keys.isEmpty else { return 0 }
        return try await send(["DEL"] + keys.map { RedisArgument($0) }).integer ?? 0
    }

    public var figures: Figures {
        get async {
            let pool = pool.figures
            return Figures(
                maxConnections: pool.maxConnections, open: pool.open, idle: pool.idle, waiting: pool.waiting,
                lastError: pool.lastError
            )
        }
    }
}
