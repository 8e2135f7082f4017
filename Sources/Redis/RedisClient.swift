import Logging
import MarketplaceCore
import NIOPosix
import ServiceLifecycle

/// A Redis client over hiredis with a small connection pool.
///
/// hiredis is used in blocking mode and every call runs on the client's own `NIOThreadPool`
/// (one thread per connection), so no event loop and no Swift concurrency thread ever blocks.
/// Each connection has connect and command timeouts; a broken connection is discarded and the
/// next call reconnects, so the client recovers by itself when Redis comes back.
///
/// Run it as a service (or call ``shutdown()``) so its threads stop.
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
    private let threads: NIOThreadPool
    private let logger: Logger

    public init(configuration: AppConfiguration.Redis, logger: Logger, reconnectBackOff: Duration = .seconds(1)) {
        self.settings = .init(
            host: configuration.host, port: configuration.port, password: configuration.password?.value,
            database: configuration.database, connectTimeout: configuration.connectTimeout,
            commandTimeout: configuration.commandTimeout
        )
        self.pool = RedisConnectionPool(maxConnections: configuration.poolSize, backOff: reconnectBackOff)
        self.threads = NIOThreadPool(numberOfThreads: configuration.poolSize)
        self.threads.start()
        self.logger = logger
    }

    /// Waits for graceful shutdown, then closes the connections and stops the threads.
    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    public func shutdown() async throws {
        await pool.close()
        try await threads.shutdownGracefully()
    }

    // MARK: Commands

    /// Sends one command and returns its reply; an error reply is thrown as ``RedisError/server(_:)``.
    @discardableResult
    public func send(_ command: RedisArgument...) async throws(RedisError) -> RedisValue {
        try await send(command)
    }

    @discardableResult
    public func send(_ command: [RedisArgument]) async throws(RedisError) -> RedisValue {
        let reply = try await pipeline([command])[0]
        if case .error(let message) = reply { throw .server(message) }
        return reply
    }

    /// Sends several commands in one round trip and returns their replies in order.
    /// Error replies come back as ``RedisValue/error(_:)`` values: one failed command does not fail the rest.
    public func pipeline(_ commands: [[RedisArgument]]) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        do {
            return try await run(commands, allowRetry: true)
        } catch let error as RedisError {
            throw error
        } catch {
            throw .unavailable(String(describing: error))
        }
    }

    /// How long a `PING` took.
    public func ping() async throws(RedisError) -> Duration {
        let start = ContinuousClock.now
        let reply = try await send("PING")
        guard reply == .status("PONG") else { throw .unexpectedReply("\(reply)") }
        return ContinuousClock.now - start
    }

    public func get(_ key: String) async throws(RedisError) -> [UInt8]? {
        let reply = try await send("GET", RedisArgument(key))
        return reply.bytes
    }

    public func set(_ key: String, _ value: [UInt8], expiresIn ttl: Duration? = nil) async throws(RedisError) {
        var command: [RedisArgument] = ["SET", RedisArgument(key), RedisArgument(bytes: value)]
        if let ttl { command += ["PX", RedisArgument(Int(ttl / .milliseconds(1)))] }
        try await send(command)
    }

    @discardableResult
    public func delete(_ keys: [String]) async throws(RedisError) -> Int {
        guard !keys.isEmpty else { return 0 }
        return try await send(["DEL"] + keys.map { RedisArgument($0) }).integer ?? 0
    }

    public var figures: Figures {
        get async {
            let pool = await pool.figures
            return Figures(
                maxConnections: pool.maxConnections, open: pool.open, idle: pool.idle, waiting: pool.waiting,
                lastError: pool.lastError
            )
        }
    }

    // MARK: Pool plumbing

    private func run(_ commands: [[RedisArgument]], allowRetry: Bool) async throws -> [RedisValue] {
        let (connection, reused) = try await lease()
        do {
            let replies = try await threads.runIfActive { [commands] () throws(RedisError) -> [RedisValue] in
                try connection.execute(commands)
            }
            await pool.release(connection, healthy: true)
            return replies
        } catch let error as RedisError where error.breaksConnection {
            await pool.release(connection, healthy: false)
            await pool.discardIdle(reason: error.description)
            // A pooled connection may have died while idle (Redis restarted): try once on a fresh one.
            // A timeout is not retried: the command may have run, and waiting twice doubles the stall.
            if reused, allowRetry, case .connectionLost = error {
                logger.debug("redis connection lost, retrying on a new connection", metadata: ["error": "\(error)"])
                return try await run(commands, allowRetry: false)
            }
            throw error
        } catch {
            await pool.release(connection, healthy: false)
            throw error
        }
    }

    /// A connection within the command timeout: an idle one, a new one, or the next one released.
    private func lease() async throws -> (RedisConnection, reused: Bool) {
        // Most calls find a connection free; only a wait needs the timed task group.
        if let grant = try await pool.acquireNow() { return try await connection(for: grant) }
        return try await connection(for: try await waitForGrant())
    }

    /// The next connection released, within the command timeout.
    private func waitForGrant() async throws -> RedisConnectionPool.Grant {
        try await withThrowingTaskGroup(of: RedisConnectionPool.Grant?.self) { group in
            group.addTask { try await self.pool.acquire() }
            group.addTask {
                try await Task.sleep(for: self.settings.commandTimeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            if let first { return first }
            // Timed out waiting; a grant that still arrives goes straight back.
            while let late = try? await group.next() {
                switch late {
                case .reuse(let connection): await pool.release(connection, healthy: true)
                case .open: await pool.abandonOpen()
                case nil: break
                }
            }
            throw RedisError.timeout
        }
    }

    private func connection(for grant: RedisConnectionPool.Grant) async throws -> (RedisConnection, reused: Bool) {
        switch grant {
        case .reuse(let connection):
            return (connection, true)
        case .open:
            do {
                let settings = self.settings
                let connection = try await threads.runIfActive { () throws(RedisError) -> RedisConnection in
                    try RedisConnection.open(settings)
                }
                await pool.opened()
                return (connection, false)
            } catch let error as RedisError {
                await pool.openFailed(error)
                logger.warning("redis connection failed", metadata: ["error": "\(error)"])
                throw error
            }
        }
    }
}
