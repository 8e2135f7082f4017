import Foundation
import Logging
import MarketplaceCore

/// Where the integration tests find the project's Postgres and Redis (`make test` starts them and
/// sets these variables; the defaults match `scripts/services.sh`).
public enum TestEnvironment {
    /// Read once: Foundation's `ProcessInfo.environment` walks `environ` on every call, and tests call this
    /// from many tasks at once (a crash inside that getter was seen under a parallel run).
    public static let process: [String: String] = ProcessInfo.processInfo.environment

    public static var databaseURL: String {
        process["TEST_DATABASE_URL"]
            ?? "postgres://marketplace:marketplace@127.0.0.1:55432/marketplace"
    }

    public static var redisURL: String {
        process["TEST_REDIS_URL"] ?? "redis://127.0.0.1:56379/0"
    }

    /// A complete, valid environment; tests override single variables to provoke errors.
    public static func values(_ overrides: [String: String] = [:]) -> [String: String] {
        var values = [
            "DATABASE_URL": databaseURL,
            "REDIS_URL": redisURL,
            "NANGO_BASE_URL": "http://127.0.0.1:3003",
            "NANGO_SECRET_KEY": "test-nango-secret-key",
            "NANGO_WEBHOOK_SECRET": "test-nango-webhook-signing-key",
            "JWT_SECRET": "test-jwt-secret-that-is-long-enough-0123456789",
            "ADMIN_TOKEN": "test-admin-token-0123456789",
            "TOKEN_ENCRYPTION_KEY": Data(repeating: 7, count: 32).base64EncodedString(),
            "LOG_LEVEL": "warning",
            // Tests share one Redis: a limit no ordinary test reaches; the rate limit tests set their own.
            "RATE_LIMIT_REQUESTS": "1000000",
            // A loaded CI machine answers slowly: a slow answer must not pass for an outage. Tests about
            // outages cut the service off (a killed process, a closed port), which fails at once.
            "REDIS_TIMEOUT_MS": "5000",
            "REDIS_CONNECT_TIMEOUT_MS": "5000",
            "CACHE_REDIS_TIMEOUT_MS": "5000",
            "DB_FAST_TIMEOUT_MS": "10000",
        ]
        values.merge(overrides) { _, override in override }
        return values
    }

    public static func configuration(_ overrides: [String: String] = [:]) throws -> AppConfiguration {
        try AppConfiguration.load(environment: values(overrides))
    }

    /// Quiet unless TEST_LOG_LEVEL asks otherwise.
    public static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = process["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }
}
