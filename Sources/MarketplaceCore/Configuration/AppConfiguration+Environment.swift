import Foundation
import Logging

extension AppConfiguration {
    /// Reads and checks every variable; throws one error listing every problem, each naming its variable.
    public static func load(environment: [String: String]) throws(ConfigurationError) -> AppConfiguration {
        var env = EnvironmentReader(environment)
        var database = readDatabase(&env)
        database?.statementTimeout = .milliseconds(env.integer("DB_STATEMENT_TIMEOUT_MS", default: 60_000, in: 100...3_600_000))
        let redis = readRedis(&env)
        let nango = readNango(&env)
        let security = readSecurity(&env)
        var http = HTTP(
            host: env.string("SERVER_HOST", default: "0.0.0.0"),
            // Railway and similar platforms hand the port in PORT.
            port: env.raw("SERVER_PORT") != nil ? env.port("SERVER_PORT", default: 8080) : env.port("PORT", default: 8080),
            requestBodyLimit: env.integer("REQUEST_BODY_LIMIT", default: 1 << 20, in: 1024...(64 << 20)),
            // Nango caps no forward and never retries a 413: webhooks get a limit of their own, far above the API's.
            webhookBodyLimit: env.integer("WEBHOOK_BODY_LIMIT", default: 16 << 20, in: 1024...(256 << 20)),
            webhookQueueBytes: env.integer("WEBHOOK_QUEUE_MAX_BYTES", default: 64 << 20, in: (1 << 20)...(4 << 30)),
            webhookReadBytes: env.integer("WEBHOOK_READ_MAX_BYTES", default: 64 << 20, in: (1 << 20)...(4 << 30)),
            corsAllowedOrigins: readOrigins(&env),
            shutdownTimeout: env.seconds("SHUTDOWN_TIMEOUT", default: 25, in: 1...600),
            idleTimeout: env.seconds("HTTP_IDLE_TIMEOUT", default: 30, in: 1...3600),
            maxConnections: env.integer("HTTP_MAX_CONNECTIONS", default: 1024, in: 1...1_000_000),
            maxHeaderBytes: env.integer("HTTP_MAX_HEADER_BYTES", default: 32 * 1024, in: 1024...(1 << 20))
        )
        http.changesMaxWaiters = env.integer("CHANGES_MAX_WAITERS", default: min(512, max(0, http.maxConnections / 2)), in: 0...1_000_000)
        if http.changesMaxWaiters >= http.maxConnections {
            env.fail("CHANGES_MAX_WAITERS", "must be below HTTP_MAX_CONNECTIONS (\(http.maxConnections)), so held change polls never take every connection")
        }
        var rateLimit = RateLimit(
            requests: env.integer("RATE_LIMIT_REQUESTS", default: 100, in: 1...1_000_000),
            window: env.seconds("RATE_LIMIT_WINDOW", default: 60, in: 1...86_400)
        )
        rateLimit.auth = .init(
            requests: env.integer("AUTH_RATE_LIMIT_REQUESTS", default: 20, in: 1...1_000_000),
            window: env.seconds("AUTH_RATE_LIMIT_WINDOW", default: 60, in: 1...86_400))
        rateLimit.publicRoutes = .init(
            requests: env.integer("PUBLIC_RATE_LIMIT_REQUESTS", default: 120, in: 1...1_000_000),
            window: env.seconds("PUBLIC_RATE_LIMIT_WINDOW", default: 60, in: 1...86_400))
        rateLimit.webhookFailures = .init(
            requests: env.integer("WEBHOOK_FAILURE_RATE_LIMIT_REQUESTS", default: 30, in: 1...1_000_000),
            window: env.seconds("WEBHOOK_FAILURE_RATE_LIMIT_WINDOW", default: 60, in: 1...86_400))
        rateLimit.consoleSignIn = .init(
            requests: env.integer("CONSOLE_SIGNIN_RATE_LIMIT_REQUESTS", default: 10, in: 1...1_000_000),
            window: env.seconds("CONSOLE_SIGNIN_RATE_LIMIT_WINDOW", default: 60, in: 1...86_400))
        let cacheTTL = env.seconds("CACHE_DEFAULT_TTL", default: 300, in: 1...604_800)
        let compressionThreshold = env.integer("CACHE_COMPRESSION_THRESHOLD", default: 256 << 10, in: 0...64 << 20)
        let cacheRedisTimeout = Duration.milliseconds(env.integer("CACHE_REDIS_TIMEOUT_MS", default: 250, in: 10...60_000))
        let oauth = OAuth(
            successURL: readURL(&env, "OAUTH_SUCCESS_URL"), failureURL: readURL(&env, "OAUTH_FAILURE_URL"),
            stateTTL: env.seconds("OAUTH_STATE_TTL", default: 900, in: 60...86_400),
            tokenTTL: env.seconds("JWT_TTL", default: 3600, in: 60...2_592_000),
            publicURL: readURL(&env, "PUBLIC_URL") ?? "http://127.0.0.1:\(http.port)"
        )
        let logs = readLogs(&env)
        let day = 86_400
        var jobs = Jobs(
            workers: env.integer("WORKER_COUNT", default: 2, in: 0...64),
            lease: env.seconds("JOB_LEASE_SECONDS", default: 30, in: 5...3600),
            reconcileInterval: env.seconds("RECONCILE_INTERVAL", default: 900, in: 5...86_400),
            syncMaxAge: env.seconds("SYNC_MAX_AGE", default: 3600, in: 1...30 * day),
            credentialRefreshInterval: env.seconds("CREDENTIAL_REFRESH_INTERVAL", default: 3600, in: 5...day),
            refreshWindow: env.seconds("TOKEN_REFRESH_WINDOW", default: 7200, in: 60...7 * day),
            cleanupInterval: env.seconds("CLEANUP_INTERVAL", default: day, in: 60...7 * day),
            inboxRetention: env.seconds("RETENTION_WEBHOOK_EVENTS", default: 30 * day, in: 3600...3650 * day),
            jobsRetention: env.seconds("RETENTION_JOBS", default: 7 * day, in: 3600...3650 * day),
            runsRetention: env.seconds("RETENTION_PIPELINE_RUNS", default: 30 * day, in: 3600...3650 * day),
            pipelinesReloadInterval: env.seconds("PIPELINES_RELOAD_INTERVAL", default: 2, in: 1...3600)
        )
        jobs.changesRetention = env.seconds("RETENTION_CHANGES", default: 30 * day, in: 60...3650 * day)
        jobs.driftCheckInterval = env.seconds("DRIFT_CHECK_INTERVAL", default: 3600, in: 60...7 * day)
        let outbound = Outbound.read(&env)
        let warnings = ["NANGO_CLIENT_ID", "NANGO_CLIENT_SECRET"].filter { env.raw($0) != nil }.map {
            "\($0) is ignored: Nango keeps each integration's OAuth client credentials in its own settings"
        }
        guard env.problems.isEmpty,
            let database, let nango, let security
        else {
            throw ConfigurationError(problems: env.problems)
        }
        var configuration = AppConfiguration(
            database: database, redis: redis, nango: nango, security: security, http: http,
            rateLimit: rateLimit, oauth: oauth, cacheDefaultTTL: cacheTTL, logs: logs,
            pipelinesFile: env.string("PIPELINES_FILE", default: "pipelines.yaml"), jobs: jobs, warnings: warnings
        )
        configuration.outbound = outbound
        configuration.cacheCompressionThreshold = compressionThreshold
        configuration.cacheRedisTimeout = cacheRedisTimeout
        configuration.cacheFallbackBytes = env.integer("CACHE_FALLBACK_MAX_BYTES", default: 32 << 20, in: (64 << 10)...(4 << 30))
        return configuration
    }

    fileprivate static func readLogs(_ env: inout EnvironmentReader) -> Logs {
        let debug = env.bool("DEBUG", default: false)
        let levels = Dictionary(uniqueKeysWithValues: Logger.Level.allCases.map { ($0.rawValue, $0) } + [("warn", .warning)])
        return Logs(
            level: env.choice("LOG_LEVEL", default: debug ? .debug : .info, levels),
            format: env.choice("LOG_FORMAT", default: .json, ["json": .json, "text": .text]),
            debug: debug
        )
    }

    /// The process environment over the `.env` file (when present): a real variable always wins.
    public static func processEnvironment(dotEnvPath: String = ".env") throws -> [String: String] {
        var values: [String: String] = [:]
        if FileManager.default.fileExists(atPath: dotEnvPath) {
            let text = try String(contentsOfFile: dotEnvPath, encoding: .utf8)
            values = try DotEnv.parse(text)
        }
        values.merge(ProcessInfo.processInfo.environment) { _, process in process }
        return values
    }

    fileprivate static func readDatabase(_ env: inout EnvironmentReader) -> Database? {
        let poolSize = env.integer("DB_POOL_SIZE", default: 20, in: 1...500)
        let fastTimeout = Duration.milliseconds(env.integer("DB_FAST_TIMEOUT_MS", default: 2000, in: 100...60_000))
        let sslModes: [String: Database.TLSMode] = ["disable": .disable, "prefer": .prefer, "require": .require]
        if let url = env.raw("DATABASE_URL") {
            guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
                let host = parts.host, !host.isEmpty, let user = parts.user, !user.isEmpty
            else {
                env.fail("DATABASE_URL", "not a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL")
                return nil
            }
            let name = String(parts.path.drop(while: { $0 == "/" }))
            guard !name.isEmpty else {
                env.fail("DATABASE_URL", "names no database (postgres://USER:PASSWORD@HOST:PORT/DATABASE)")
                return nil
            }
            var tls = Database.TLSMode.disable
            if let mode = parts.queryItems?.first(where: { $0.name == "sslmode" })?.value {
                guard let parsed = sslModes[mode] else {
                    env.fail("DATABASE_URL", "sslmode '\(mode)' is not one of disable, prefer, require")
                    return nil
                }
                tls = parsed
            }
            return Database(
                host: host, port: parts.port ?? 5432, username: user.removingPercentEncoding ?? user,
                password: parts.password.map { Secret($0.removingPercentEncoding ?? $0) }, name: name,
                tls: tls, poolSize: poolSize, fastTimeout: fastTimeout
            )
        }
        let host = env.string("DB_HOST", default: "localhost")
        let port = env.port("DB_PORT", default: 5432)
        let user = env.required("DB_USER", "or set DATABASE_URL")
        let name = env.required("DB_NAME", "or set DATABASE_URL")
        let tls = env.choice("DB_SSLMODE", default: .disable, sslModes)
        guard let user, let name else { return nil }
        return Database(
            host: host, port: port, username: user, password: env.raw("DB_PASSWORD").map(Secret.init), name: name,
            tls: tls, poolSize: poolSize, fastTimeout: fastTimeout
        )
    }

    private static func readRedis(_ env: inout EnvironmentReader) -> Redis {
        var redis = Redis(host: env.string("REDIS_HOST", default: "127.0.0.1"), port: env.port("REDIS_PORT", default: 6379))
        redis.password = env.raw("REDIS_PASSWORD").map(Secret.init)
        redis.database = env.integer("REDIS_DB", default: 0, in: 0...15)
        redis.poolSize = env.integer("REDIS_POOL_SIZE", default: 4, in: 1...64)
        redis.commandTimeout = .milliseconds(env.integer("REDIS_TIMEOUT_MS", default: 500, in: 10...60_000))
        // A connection's setup (TCP, AUTH, SELECT) may take longer than a command on a loaded machine.
        redis.connectTimeout = .milliseconds(env.integer("REDIS_CONNECT_TIMEOUT_MS", default: 1000, in: 10...60_000))
        if let url = env.raw("REDIS_URL") {
            guard let parts = URLComponents(string: url), let scheme = parts.scheme, let host = parts.host, !host.isEmpty else {
                env.fail("REDIS_URL", "not a redis://[:PASSWORD@]HOST:PORT[/DB] URL")
                return redis
            }
            guard scheme == "redis" else {
                env.fail("REDIS_URL", scheme == "rediss" ? "TLS (rediss://) is not supported" : "scheme must be redis://")
                return redis
            }
            redis.host = host
            redis.port = parts.port ?? 6379
            redis.password = parts.password.map { Secret($0.removingPercentEncoding ?? $0) }
            let path = parts.path.drop(while: { $0 == "/" })
            if !path.isEmpty {
                guard let database = Int(path), (0...15).contains(database) else {
                    env.fail("REDIS_URL", "database '\(path)' is not a number from 0 to 15")
                    return redis
                }
                redis.database = database
            }
        }
        return redis
    }

    private static func readNango(_ env: inout EnvironmentReader) -> Nango? {
        let baseURL = env.string("NANGO_BASE_URL", default: "https://api.nango.dev")
        if URLComponents(string: baseURL)?.host == nil || !(baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://")) {
            env.fail("NANGO_BASE_URL", "'\(baseURL)' is not an http(s) URL")
        }
        // NANGO_API_KEY is the seed's name for the same key.
        let secretName = env.raw("NANGO_SECRET_KEY") == nil && env.raw("NANGO_API_KEY") != nil ? "NANGO_API_KEY" : "NANGO_SECRET_KEY"
        let secret = env.required(secretName, "the environment's secret key from Nango's dashboard")
        // No fallback to the secret key: environments created since April 2026 sign with a key of their own, and
        // Nango never retries a 401, so a wrong guess would drop every webhook silently.
        let webhookSecret = env.required(
            "NANGO_WEBHOOK_SECRET",
            "the environment's webhook signing key (Nango dashboard, Environment Settings > Webhooks); older environments sign with their secret key, so set it to that")
        guard let secret, let webhookSecret else { return nil }
        return Nango(
            baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL,
            secretKey: Secret(secret),
            webhookSecret: Secret(webhookSecret),
            previousWebhookSecret: env.raw("NANGO_WEBHOOK_SECRET_PREVIOUS").map(Secret.init),
            acceptsLegacySignature: env.bool("NANGO_WEBHOOK_LEGACY_SIGNATURE", default: false),
            rateLimitJitter: .milliseconds(env.integer("NANGO_RATE_LIMIT_JITTER_MS", default: 3000, in: 0...60_000))
        )
    }

    private static func readSecurity(_ env: inout EnvironmentReader) -> Security? {
        let jwt = env.required("JWT_SECRET", "at least 32 bytes, e.g. `openssl rand -base64 48`")
        if let jwt, jwt.utf8.count < 32 {
            env.fail("JWT_SECRET", "must be at least 32 bytes (HS256 key), got \(jwt.utf8.count)")
        }
        let admin = env.raw("ADMIN_TOKEN")
        if let admin, admin.utf8.count < 16 {
            env.fail("ADMIN_TOKEN", "must be at least 16 bytes when set, got \(admin.utf8.count)")
        }
        let key = env.required("TOKEN_ENCRYPTION_KEY", "32 random bytes in base64, e.g. `openssl rand -base64 32`")
        if let key {
            if let bytes = Data(base64Encoded: key) {
                if bytes.count != 32 { env.fail("TOKEN_ENCRYPTION_KEY", "must decode to 32 bytes, got \(bytes.count)") }
            } else {
                env.fail("TOKEN_ENCRYPTION_KEY", "is not valid base64")
            }
        }
        let viewer = env.raw("CONSOLE_VIEWER_TOKEN")
        if let viewer, viewer.utf8.count < 16 {
            env.fail("CONSOLE_VIEWER_TOKEN", "must be at least 16 bytes when set, got \(viewer.utf8.count)")
        }
        if let viewer, viewer == admin {
            env.fail("CONSOLE_VIEWER_TOKEN", "must differ from ADMIN_TOKEN: the viewer role would sign in as admin")
        }
        let sessionTTL = env.seconds("CONSOLE_SESSION_TTL", default: 8 * 3600, in: 300...7 * 86_400)
        guard let jwt, let key else { return nil }
        return Security(
            jwtSecret: Secret(jwt), adminToken: admin.map(Secret.init), tokenEncryptionKey: Secret(key),
            consoleViewerToken: viewer.map(Secret.init), consoleSessionTTL: sessionTTL)
    }

    private static func readURL(_ env: inout EnvironmentReader, _ name: String) -> String? {
        guard let text = env.raw(name) else { return nil }
        guard let parts = URLComponents(string: text), ["http", "https"].contains(parts.scheme ?? ""), parts.host?.isEmpty == false else {
            env.fail(name, "'\(text)' is not an http(s) URL")
            return nil
        }
        return text.hasSuffix("/") && name == "PUBLIC_URL" ? String(text.dropLast()) : text
    }

    private static func readOrigins(_ env: inout EnvironmentReader) -> [String] {
        guard let list = env.raw("CORS_ALLOWED_ORIGINS") else { return [] }
        var origins: [String] = []
        for item in list.split(separator: ",") {
            let origin = String(Substring(item).trimmingWhitespace())
            if origin.isEmpty { continue }
            guard origin == "*" || isOrigin(origin) else {
                env.fail("CORS_ALLOWED_ORIGINS", "'\(origin)' is not an origin (scheme://host[:port], no path)")
                continue
            }
            origins.append(origin)
        }
        return origins
    }

    private static func isOrigin(_ text: String) -> Bool {
        guard let parts = URLComponents(string: text), let scheme = parts.scheme, ["http", "https"].contains(scheme),
            parts.host?.isEmpty == false
        else { return false }
        return parts.path.isEmpty && parts.query == nil && parts.fragment == nil
    }
}

extension AppConfiguration.Database {
    /// Only the database settings: what `marketplace migrate` needs.
    public static func load(environment: [String: String]) throws(ConfigurationError) -> Self {
        var env = EnvironmentReader(environment)
        let database = AppConfiguration.readDatabase(&env)
        guard env.problems.isEmpty, let database else { throw ConfigurationError(problems: env.problems) }
        return database
    }
}

extension AppConfiguration.Logs {
    /// Only the log settings; a bad value falls back to the default (the full load reports it).
    public static func load(environment: [String: String]) -> Self {
        var env = EnvironmentReader(environment)
        return AppConfiguration.readLogs(&env)
    }
}
