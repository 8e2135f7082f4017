import Logging
import Foundation
import MarketplaceCore
import Testing

@Suite struct ConfigurationTests {
    let valid: [String: String] = [
        "DATABASE_URL": "postgres://app:p%40ss@db.example:6543/market?sslmode=require",
        "REDIS_URL": "redis://:redispw@cache:6380/2",
        "NANGO_SECRET_KEY": "nango-secret",
        "NANGO_WEBHOOK_SECRET": "nango-webhook-key",
        "JWT_SECRET": String(repeating: "j", count: 32),
        "TOKEN_ENCRYPTION_KEY": Data(repeating: 1, count: 32).base64EncodedString(),
    ]

    func problems(_ overrides: [String: String?]) -> [ConfigurationError.Problem] {
        var values = valid
        for (key, value) in overrides { values[key] = value }
        do {
            _ = try AppConfiguration.load(environment: values)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func validEnvironmentLoadsWithDefaults() throws {
        let configuration = try AppConfiguration.load(environment: valid)
        #expect(configuration.database.host == "db.example")
        #expect(configuration.database.port == 6543)
        #expect(configuration.database.username == "app")
        #expect(configuration.database.password?.value == "p@ss")
        #expect(configuration.database.name == "market")
        #expect(configuration.database.tls == .require)
        #expect(configuration.redis.host == "cache")
        #expect(configuration.redis.port == 6380)
        #expect(configuration.redis.database == 2)
        #expect(configuration.redis.password?.value == "redispw")
        #expect(configuration.http.port == 8080)
        #expect(configuration.nango.baseURL == "https://api.nango.dev")
        #expect(configuration.nango.webhookSecret.value == "nango-webhook-key")
        #expect(configuration.nango.previousWebhookSecret == nil)
        #expect(configuration.security.adminToken == nil)
        #expect(configuration.rateLimit.requests == 100)
        #expect(configuration.cacheDefaultTTL == .seconds(300))
        #expect(configuration.logs.level == .info)
    }

    @Test func separateVariablesWorkWithoutURLs() throws {
        var values = valid
        values["DATABASE_URL"] = nil
        values["REDIS_URL"] = nil
        values.merge(["DB_HOST": "pg", "DB_PORT": "5433", "DB_USER": "u", "DB_PASSWORD": "pw", "DB_NAME": "n",
                      "REDIS_HOST": "r", "REDIS_PORT": "7000"]) { $1 }
        let configuration = try AppConfiguration.load(environment: values)
        #expect(configuration.database == .init(host: "pg", port: 5433, username: "u", password: Secret("pw"), name: "n"))
        #expect(configuration.redis.host == "r" && configuration.redis.port == 7000)
    }

    @Test func everyMissingRequiredVariableIsNamed() {
        let found = problems(["DATABASE_URL": nil, "NANGO_SECRET_KEY": nil, "JWT_SECRET": nil, "TOKEN_ENCRYPTION_KEY": nil])
        #expect(Set(found.map(\.variable)) == ["DB_USER", "DB_NAME", "NANGO_SECRET_KEY", "JWT_SECRET", "TOKEN_ENCRYPTION_KEY"])
        #expect(found.allSatisfy { $0.message.contains("required") })
    }

    @Test(arguments: [
        ("SERVER_PORT", "abc", "not a port number"),
        ("SERVER_PORT", "70000", "not a port number"),
        ("JWT_SECRET", "too-short", "at least 32 bytes"),
        ("TOKEN_ENCRYPTION_KEY", "%%%not-base64", "not valid base64"),
        ("TOKEN_ENCRYPTION_KEY", Data(repeating: 1, count: 16).base64EncodedString(), "32 bytes, got 16"),
        ("DATABASE_URL", "mysql://u@h/db", "postgres://"),
        ("DATABASE_URL", "postgres://u:p@h:5432", "names no database"),
        ("DATABASE_URL", "postgres://u@h/db?sslmode=sometimes", "sslmode"),
        ("REDIS_URL", "rediss://h:6379", "TLS"),
        ("REDIS_URL", "redis://h:6379/99", "database"),
        ("RATE_LIMIT_REQUESTS", "-5", "out of range"),
        ("CACHE_DEFAULT_TTL", "soon", "not a whole number"),
        ("DEBUG", "maybe", "not a boolean"),
        ("LOG_LEVEL", "loud", "not one of"),
        ("ADMIN_TOKEN", "short", "at least 16 bytes"),
        ("CORS_ALLOWED_ORIGINS", "https://ok.example, not an origin", "not an origin"),
        ("NANGO_BASE_URL", "ftp://nango", "not an http(s) URL"),
    ])
    func malformedValueNamesVariableAndProblem(variable: String, value: String, expected: String) {
        let found = problems([variable: value])
        #expect(found.count == 1)
        #expect(found.first?.variable == variable)
        #expect(found.first?.message.contains(expected) == true, "\(found)")
    }

    @Test func allProblemsAreReportedAtOnce() {
        let found = problems(["SERVER_PORT": "abc", "JWT_SECRET": "short"])
        #expect(found.map(\.variable).sorted() == ["JWT_SECRET", "SERVER_PORT"])
        let text = ConfigurationError(problems: found).description
        #expect(text.contains("SERVER_PORT: 'abc' is not a port number"))
    }

    @Test func secretsNeverAppearInTheSummaryOrDescriptions() throws {
        var values = valid
        values["ADMIN_TOKEN"] = "admin-token-value-123456"
        let configuration = try AppConfiguration.load(environment: values)
        let printed = configuration.maskedSummary.map { "\($0.name)=\($0.value)" }.joined(separator: "\n")
            + "\(configuration.security) \(configuration.database) \(configuration.nango)"
        for secret in ["p@ss", "redispw", "nango-secret", values["JWT_SECRET"]!, values["TOKEN_ENCRYPTION_KEY"]!, "admin-token-value-123456"] {
            #expect(!printed.contains(secret), "leaked \(secret)")
        }
        #expect(printed.contains("postgres://app:••••@db.example:6543/market"))
    }

    @Test func aliasesAndPlatformPort() throws {
        var values = valid
        values["NANGO_SECRET_KEY"] = nil
        values["NANGO_API_KEY"] = "seed-name-key"
        values["NANGO_WEBHOOK_SECRET"] = "webhook-key"
        values["PORT"] = "9090"
        values["NANGO_CLIENT_ID"] = "ignored"
        let configuration = try AppConfiguration.load(environment: values)
        #expect(configuration.nango.secretKey.value == "seed-name-key")
        #expect(configuration.nango.webhookSecret.value == "webhook-key")
        #expect(configuration.http.port == 9090)
        #expect(configuration.warnings.count == 1 && configuration.warnings[0].contains("NANGO_CLIENT_ID"))
    }

    /// No fallback to the secret key: a new environment's key differs, and Nango never retries a 401.
    @Test func webhookSigningKeyIsRequiredAndMayHaveAPreviousOne() throws {
        let missing = problems(["NANGO_WEBHOOK_SECRET": nil])
        #expect(missing.map(\.variable) == ["NANGO_WEBHOOK_SECRET"])
        #expect(missing.first?.message.contains("signing key") == true)
        var values = valid
        values["NANGO_WEBHOOK_SECRET_PREVIOUS"] = "old-webhook-key"
        let configuration = try AppConfiguration.load(environment: values)
        #expect(configuration.nango.previousWebhookSecret?.value == "old-webhook-key")
        #expect(!configuration.maskedSummary.contains { $0.value.contains("old-webhook-key") })
    }

    @Test func blankValuesCountAsUnset() {
        #expect(problems(["JWT_SECRET": "   "]).map(\.variable) == ["JWT_SECRET"])
    }
}
