import Foundation
import Ingest
import MarketplaceCore
import Pipeline
import Storage

// The admin API's answers: the contract with clients lives here, at the edge; Storage's rows carry no
// JSON names of their own, so a new column reaches a client only when a view says so.

struct JobView: Encodable {
    let id: Int64
    let kind: String
    let status: String
    let attempts: Int
    let max_attempts: Int
    let run_at: Date
    let last_error: String?
    let concurrency_key: String?

    init(_ job: JobRecord) {
        (id, kind, status, attempts, max_attempts) = (job.id, job.kind, job.status, job.attempts, job.maxAttempts)
        (run_at, last_error, concurrency_key) = (job.runAt, job.lastError, job.concurrencyKey)
    }
}

struct QuarantineEntryView: Encodable {
    let id: Int64
    let pipeline: String
    let connection_id: String
    let external_id: String?
    let reasons: JSONValue
    let status: String

    init(_ entry: QuarantineEntry) {
        (id, pipeline, connection_id, external_id) = (entry.id, entry.pipeline, entry.connectionId, entry.externalId)
        (reasons, status) = (entry.reasons, entry.status)
    }
}

struct WebhookEventView: Encodable {
    let id: Int64
    let received_at: Date
    let type: String
    let operation: String?
    let connection_id: String?
    let integration_id: String?
    let model: String?
    let status: String
    let error: String?

    init(_ event: WebhookEvent) {
        (id, received_at, type, operation) = (event.id, event.receivedAt, event.type, event.operation)
        (connection_id, integration_id, model, status, error) = (event.connectionId, event.integrationId, event.model, event.status, event.error)
    }
}

struct CredentialView: Encodable {
    let company_id: String
    let integration_id: String
    let connection_id: String
    let provider: String
    let status: String
    let auth_type: String
    let fingerprint: String?
    let expires_at: Date?
    let last_refreshed_at: Date?
    let refresh_failures: Int
    let last_refresh_error: String?

    init(_ summary: CredentialSummary) {
        (company_id, integration_id, connection_id) = (summary.companyId.lowercasedString, summary.integrationId, summary.connectionId)
        (provider, status, auth_type, fingerprint) = (summary.provider, summary.status, summary.authType, summary.fingerprint)
        (expires_at, last_refreshed_at) = (summary.expiresAt, summary.lastRefreshedAt)
        (refresh_failures, last_refresh_error) = (summary.refreshFailures, summary.lastRefreshError)
    }
}

struct ReplayedView: Encodable {
    let event_id: Int64
    let job_id: Int64?
    let outcome: String

    init(_ replayed: Inbox.Replayed) {
        (event_id, job_id, outcome) = (replayed.eventId, replayed.jobId, replayed.outcome)
    }
}

struct CompanySyncAnswer: Encodable {
    struct Model: Encodable {
        let model: String
        let cursor: String?
        let records_fetched: Int
        let records_upserted: Int
        let records_deleted: Int
        let records_quarantined: Int
        let last_run_at: Date?
        let last_success_at: Date?
        let last_error: String?
        let nango_sync_status: String?

        init(_ state: SyncModelState) {
            (model, cursor, last_run_at, last_success_at) = (state.model, state.cursor, state.lastRunAt, state.lastSuccessAt)
            (records_fetched, records_upserted) = (state.recordsFetched, state.recordsUpserted)
            (records_deleted, records_quarantined) = (state.recordsDeleted, state.recordsQuarantined)
            (last_error, nango_sync_status) = (state.lastError, state.nangoSyncStatus)
        }
    }

    struct Run: Encodable {
        let id: Int64
        let pipeline: String
        let fetched: Int
        let upserted: Int
        let unchanged: Int
        let deleted: Int
        let quarantined: Int
        let pruned_skipped: Int
        let outcome: String
        let error: String?

        init(_ run: PipelineRun) {
            (id, pipeline, fetched, upserted, unchanged) = (run.id, run.pipeline, run.fetched, run.upserted, run.unchanged)
            (deleted, quarantined, pruned_skipped, outcome, error) = (run.deleted, run.quarantined, run.prunedSkipped, run.outcome, run.error)
        }
    }

    let company_id: String
    let integration_id: String
    let connection_id: String
    let status: String
    let models: [Model]
    let recent_runs: [Run]

    init(_ view: CompanySyncView) {
        (company_id, integration_id) = (view.company.id.lowercasedString, view.company.integrationId)
        (connection_id, status) = (view.company.connectionId, view.company.status.rawValue)
        (models, recent_runs) = (view.models.map(Model.init), view.recentRuns.map(Run.init))
    }
}
