import Foundation
import Ingest
import MarketplaceCore
import Pipeline
import Storage

// What the templates read. Mustache reflects stored properties only, so every value a template shows is stored
// here, already formatted; markup built in code (charts, highlighted JSON) is escaped where it is built.

/// The frame around every page: title, navigation, who is signed in, the CSRF token its forms carry.
struct ConsoleFrame {
    struct NavItem {
        let href: String
        let label: String
        let active: Bool
    }

    let title: String
    let nav: [NavItem]
    let role: String
    let canAct: Bool
    let csrf: String
    let notice: String?
    /// Pages whose lists follow the live feed carry the change signature read before their data: the feed
    /// compares with it, so a change between the page's read and the feed's start is not missed.
    let live: Bool
    let liveSince: String?

    static let sections: [(href: String, label: String)] = [
        ("/console", "Overview"), ("/console/events", "Webhook events"), ("/console/jobs", "Jobs"),
        ("/console/companies", "Companies"), ("/console/quarantine", "Quarantine"), ("/console/pipelines", "Pipelines"),
        ("/console/tokens", "Tokens"), ("/console/outbound", "Outbound"),
    ]

    init(title: String, section: String, session: ConsoleSession, notice: String?, liveSince: String? = nil) {
        self.title = title
        self.nav = Self.sections.map { NavItem(href: $0.href, label: $0.label, active: $0.href == section) }
        self.role = session.role.rawValue
        self.canAct = session.canAct
        self.csrf = session.csrfToken
        self.notice = notice
        self.live = liveSince != nil
        self.liveSince = liveSince
    }
}

/// A time as the page shows it: UTC in the text (the script turns it into the viewer's zone, UTC on hover).
struct Stamp {
    let iso: String
    let utc: String

    init?(_ date: Date?) {
        guard let date else { return nil }
        iso = date.formatted(.iso8601)
        utc = iso.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }
}

struct EventRow {
    let id: Int64
    let receivedAt: Stamp?
    let type: String
    let operation: String?
    let integrationId: String?
    let connectionId: String?
    let model: String?
    let status: String
    let error: String?

    init(_ event: WebhookEvent) {
        (id, receivedAt, type, operation) = (event.id, Stamp(event.receivedAt), event.type, event.operation)
        (integrationId, connectionId, model, status, error) = (event.integrationId, event.connectionId, event.model, event.status, event.error)
    }
}

struct JobRow {
    let id: Int64
    let kind: String
    let status: String
    let attempts: Int
    let maxAttempts: Int
    let runAt: Stamp?
    let lastError: String?
    let concurrencyKey: String?
    let retryable: Bool

    init(_ job: JobRecord) {
        (id, kind, status, attempts, maxAttempts) = (job.id, job.kind, job.status, job.attempts, job.maxAttempts)
        (runAt, lastError, concurrencyKey) = (Stamp(job.runAt), job.lastError, job.concurrencyKey)
        retryable = JobStatus(rawValue: job.status).map(JobStatus.retryable.contains) ?? false
    }
}

struct CompanyRow {
    let id: String
    let name: String
    let integrationId: String
    let connectionId: String
    let provider: String
    let status: String
    let lastSyncedAt: Stamp?
    let oldestUnsynced: Stamp?
    let fetchedLastHour: Int

    init(_ company: CompanyRecord, lastSyncedAt: Date?, oldestUnsynced: Date? = nil, fetchedLastHour: Int = 0) {
        (id, name) = (company.id.lowercasedString, company.name ?? "(no name yet)")
        (integrationId, connectionId, provider, status) = (company.integrationId, company.connectionId, company.provider, company.status.rawValue)
        (self.lastSyncedAt, self.oldestUnsynced, self.fetchedLastHour) = (Stamp(lastSyncedAt), Stamp(oldestUnsynced), fetchedLastHour)
    }
}

/// A label and a number, for the small tables beside the charts.
struct Count {
    let label: String
    let count: Int
    /// The number as the page prints it.
    let shown: String

    /// With `cap`, a count that stopped there prints as "10000+".
    init(label: String, count: Int, cap: Int? = nil) {
        (self.label, self.count, self.shown) = (label, count, Self.shown(count, cap: cap))
    }

    static func shown(_ count: Int, cap: Int?) -> String {
        guard let cap, count >= cap else { return "\(count)" }
        return "\(count)+"
    }
}

/// A pipeline run and its counts.
struct RunRow {
    let id: Int64
    let pipeline: String
    let fetched: Int
    let upserted: Int
    let unchanged: Int
    let deleted: Int
    let pruned: Int
    let quarantined: Int
    let outcome: String
    let error: String?

    init(_ run: PipelineRun) {
        (id, pipeline, fetched, upserted, unchanged, deleted) = (run.id, run.pipeline, run.fetched, run.upserted, run.unchanged, run.deleted)
        (pruned, quarantined, outcome, error) = (run.prunedSkipped, run.quarantined, run.outcome, run.error)
    }
}

/// A change of the log, as a company's page lists it: the feed's `type`, `external_id` and `version`, and its position.
struct ChangeRow {
    let position: String
    let version: Int64
    let type: String
    let externalId: String?
    let occurredAt: Stamp?

    init(_ entry: ChangeLogEntry) {
        (position, version, type) = (entry.position.description, entry.version, entry.type)
        (externalId, occurredAt) = (entry.externalId, Stamp(entry.occurredAt))
    }
}
