import Logging

/// Everything the service reads from its environment, validated once at start-up.
/// Build it with ``load(environment:)``; every field has been checked by then.
public struct AppConfiguration: Sendable {
    public struct Database: Sendable, Equatable {
        public enum TLSMode: String, Sendable, Equatable { case disable, prefer, require }
        public var host: String
        public var port: Int
        public var username: String
        public var password: Secret?
        public var name: String
        public var tls: TLSMode
        public var poolSize: Int
        /// A query that must answer fast (readiness, webhook intake) waits at most this long for the pool.
        public var fastTimeout: Duration
        /// Postgres cancels any statement running longer (a slow search cannot hold a connection); migrations lift it.
        public var statementTimeout: Duration = .seconds(60)

        public init(
            host: String, port: Int, username: String, password: Secret?, name: String,
            tls: TLSMode = .disable, poolSize: Int = 20, fastTimeout: Duration = .seconds(2)
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.name = name
            self.tls = tls
            self.poolSize = poolSize
            self.fastTimeout = fastTimeout
        }

        /// The connection URL with the password masked, for logs and `marketplace config`.
        public var maskedURL: String {
            let credentials = password == nil ? username : "\(username):••••"
            return "postgres://\(credentials)@\(host):\(port)/\(name)?sslmode=\(tls.rawValue)"
        }
    }

    public struct Redis: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var password: Secret?
        public var database: Int
        public var poolSize: Int
        public var connectTimeout: Duration
        public var commandTimeout: Duration

        public init(
            host: String, port: Int, password: Secret? = nil, database: Int = 0, poolSize: Int = 4,
            connectTimeout: Duration = .milliseconds(500), commandTimeout: Duration = .milliseconds(500)
        ) {
            self.host = host
            self.port = port
            self.password = password
            self.database = database
            self.poolSize = poolSize
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
        }

        public var maskedURL: String {
            "redis://\(password == nil ? "" : ":••••@")\(host):\(port)/\(database)"
        }
    }

    public struct Nango: Sendable, Equatable {
        public var baseURL: String
        public var secretKey: Secret
        /// The environment's webhook signing key; older environments sign with the secret key.
        public var webhookSecret: Secret
        /// The key before a rotation: Nango keeps signing with it for a few minutes after one.
        public var previousWebhookSecret: Secret?
        /// Accept the legacy `X-Nango-Signature` (SHA-256 of key + body) when no HMAC header is present.
        public var acceptsLegacySignature: Bool
        /// At most this much is added at random to a rate-limit pause, so instances do not all return at once.
        public var rateLimitJitter: Duration = .seconds(3)
    }

    public struct Security: Sendable, Equatable {
        public var jwtSecret: Secret
        /// Admin endpoints are closed when this is nil.
        public var adminToken: Secret?
        /// 32 bytes, base64: the AES-GCM key for tokens at rest.
        public var tokenEncryptionKey: Secret
        /// The console's read-only sign-in (`CONSOLE_VIEWER_TOKEN`): sees everything, changes nothing.
        public var consoleViewerToken: Secret? = nil
        /// How long a console sign-in lasts (`CONSOLE_SESSION_TTL`).
        public var consoleSessionTTL: Duration = .seconds(8 * 3600)
    }

    public struct HTTP: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var requestBodyLimit: Int
        /// `POST /webhooks/nango` only: a body over it is lost for good (Nango does not retry a 413).
        public var webhookBodyLimit: Int
        /// Webhook bodies waiting for their commit, at most; past it, 503 with `Retry-After` (Nango retries).
        public var webhookQueueBytes: Int = 64 << 20
        /// Webhook bodies being read (before their signature is checked), at most, all connections together; past
        /// it, 503 with `Retry-After`. Never below `webhookBodyLimit`, so one body of the largest size always fits.
        public var webhookReadBytes: Int = 64 << 20
        public var corsAllowedOrigins: [String]
        public var shutdownTimeout: Duration
        /// A connection reading a request head or body that sends nothing for this long is closed (a response
        /// in progress is not idle).
        public var idleTimeout: Duration = .seconds(30)
        /// Connections served at once; more wait in the listen backlog.
        public var maxConnections: Int = 1024
        /// The request head's bound (all header lines together).
        public var maxHeaderBytes: Int = 32 * 1024
        /// Change-feed long polls held at once by this instance; past it, 503 with `Retry-After`. Below
        /// `maxConnections`, so held polls never take every connection Nango's webhooks need.
        public var changesMaxWaiters: Int = 512
    }

    public struct OAuth: Sendable, Equatable {
        /// Where the callback sends the browser after storing the company; JSON answers when nil.
        public var successURL: String?
        public var failureURL: String?
        public var stateTTL: Duration
        public var tokenTTL: Duration
        /// This service's public base URL, for the callback address handed to front ends.
        public var publicURL: String
    }

    public struct RateLimit: Sendable, Equatable {
        public var requests: Int
        public var window: Duration
        /// Per client address on `/api/auth/*` (each call costs Nango calls), counted in process.
        public var auth = Window(requests: 20, window: .seconds(60))
        /// Per client address on the other unauthenticated routes that cost work (`/health/detailed`, `/openapi.json`).
        public var publicRoutes = Window(requests: 120, window: .seconds(60))
        /// Per client address, webhooks that fail verification only: a validly signed one is never limited.
        public var webhookFailures = Window(requests: 30, window: .seconds(60))
        /// Console sign-in attempts per address.
        public var consoleSignIn = Window(requests: 10, window: .seconds(60))

        public struct Window: Sendable, Equatable {
            public var requests: Int
            public var window: Duration
        }
    }

    public struct Logs: Sendable, Equatable {
        public enum Format: String, Sendable, Equatable { case json, text }
        public var level: Logger.Level
        public var format: Format
        public var debug: Bool
    }

    /// The pipeline's workers and scheduled jobs.
    public struct Jobs: Sendable, Equatable {
        public var workers: Int
        public var lease: Duration
        public var reconcileInterval: Duration
        /// A (connection, model) not synced for this long is synced by reconciliation.
        public var syncMaxAge: Duration
        public var credentialRefreshInterval: Duration
        /// Tokens expiring within this window are refreshed ahead of time.
        public var refreshWindow: Duration
        public var cleanupInterval: Duration
        public var inboxRetention: Duration
        public var jobsRetention: Duration
        public var runsRetention: Duration
        /// How often every active connection's models are compared with Nango's record counts (`DRIFT_CHECK_INTERVAL`).
        public var driftCheckInterval: Duration = .seconds(3600)
        /// How long the change log keeps a change (`RETENTION_CHANGES`); a cursor behind what it deleted gets 410.
        public var changesRetention: Duration = .seconds(30 * 86_400)
        /// How often the pipelines file is checked for edits.
        public var pipelinesReloadInterval: Duration

        public static let standard = Jobs(
            workers: 2, lease: .seconds(30), reconcileInterval: .seconds(900), syncMaxAge: .seconds(3600),
            credentialRefreshInterval: .seconds(3600), refreshWindow: .seconds(7200), cleanupInterval: .seconds(86_400),
            inboxRetention: .seconds(30 * 86_400), jobsRetention: .seconds(7 * 86_400), runsRetention: .seconds(30 * 86_400),
            pipelinesReloadInterval: .seconds(2))
    }

    public var database: Database
    public var redis: Redis
    public var nango: Nango
    public var security: Security
    public var http: HTTP
    public var rateLimit: RateLimit
    public var oauth: OAuth
    public var cacheDefaultTTL: Duration
    /// Cache entries larger than this many bytes are stored zlib-compressed.
    public var cacheCompressionThreshold: Int = 256 << 10
    /// How long a cache read or write waits for Redis before the read falls back (capped by `redis.commandTimeout`).
    public var cacheRedisTimeout: Duration = .milliseconds(250)
    /// The in-process fallback cache (Redis down) holds at most this many bytes of answers.
    public var cacheFallbackBytes: Int = 32 << 20
    public var logs: Logs
    public var pipelinesFile: String
    public var jobs: Jobs = .standard
    public var outbound = Outbound()
    /// Settings that are accepted but have no effect, said once at start-up.
    public var warnings: [String]
}
