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

    /// The pipelines file in force, and the errors of an edit that was refused.
    struct Pipelines: Codable, Sendable, Equatable {
        var status: String              // "ok" | "error" (an edit was refused; the last good version runs)
        var file: String
        var hash: String?
        var count: Int
        var loadedAt: String?
        var errors: [String]?

        enum CodingKeys: String, CodingKey {
            case status, file, hash, count, errors
            case loadedAt = "loaded_at"
        }
    }

    /// What anyone may see: each dependency's status and figures, never an error's text or a file path.
    var publicView: HealthReport {
        var view = self
        for key in view.checks.keys { view.checks[key]?.error = nil }
        if var pipelines = view.pipelines {
            pipelines.file = ""
            pipelines.errors = nil
            view.pipelines = pipelines
        }
        return view
    }

    var status: Status
    var version: String?
    var uptimeSeconds: Int?
    var startedAt: String?
    var checks: [String: Dependency]
    var pipelines: Pipelines?

    enum CodingKeys: String, CodingKey {
        case status, version, checks, pipelines
        case uptimeSeconds = "uptime_seconds"
        case startedAt = "started_at"
    }
}
