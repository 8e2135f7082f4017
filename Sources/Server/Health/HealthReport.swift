import Foundation

/// The body of `/health/ready` and `/health/detailed`.
struct HealthReport: Codable, Sendable, Equatable {
    enum Status: String, Codable, Sendable {
        case ok, degraded, down
    }

    struct Dependency: Codable, Sendable, Equatable {
        var status: String              // "up" | "down"
        var latencyMs: Double?
        var error: String?
        var pool: [String: Int]?
        var migrations: Migrations?

        enum CodingKeys: String, CodingKey {
            case status, error, pool, migrations
            case latencyMs = "latency_ms"
        }
    }

    struct Migrations: Codable, Sendable, Equatable {
        var applied: Int
        var pending: [String]
    }

    var status: Status
    var version: String?
    var uptimeSeconds: Int?
    var startedAt: String?
    var checks: [String: Dependency]

    enum CodingKeys: String, CodingKey {
        case status, version, checks
        case uptimeSeconds = "uptime_seconds"
        case startedAt = "started_at"
    }
}
