import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Storage

/// The inbox's transactions: what storing a webhook means (its event, its job, Nango's sync failures), in one
/// place for arrival (`InboxWriter`'s group commit) and for replay.
public enum Inbox {
    /// The events, their jobs and any sync-state changes in one transaction; outcomes in input order. The new
    /// events' ids are reserved first, so their jobs are written before them and each event is inserted already
    /// naming its job: every row is written once.
    static func store(_ classifications: [WebhookClassification], database: Database, logger: Logger) async throws -> [WebhookIntake.Outcome] {
        if let stored = try await storeFresh(classifications, database: database, logger: logger) { return stored }
        return try await database.withTransaction(logger: logger) { connection in
            let eventIDs = try await WebhookEventsTable.reserve(keys: classifications.map(\.event.dedupeKey), on: connection, logger: logger)
            let fresh = zip(classifications, eventIDs).compactMap { classification, eventID in eventID.map { (classification, $0) } }
            let jobIDs = try await consequences(of: fresh, linkingEvents: false, on: connection, logger: logger)
            let events = fresh.map { classification, eventID in
                WebhookEventsTable.NewEvent(
                    id: eventID, event: classification.event,
                    status: classification.job == nil && classification.syncFailure == nil ? .ignored : .received, jobID: jobIDs[eventID])
            }
            let inserted = try await WebhookEventsTable.insert(events, on: connection, logger: logger)
            guard inserted.count == events.count else { throw ConcurrentDelivery() }
            return eventIDs.map { eventID in
                guard let eventID else { return .duplicate }
                return .stored(eventID: eventID, jobID: jobIDs[eventID])
            }
        }
    }

    /// The common case in one statement (`WebhookEventsTable.storeFresh`): no event reports a failed sync or a sync
    /// Nango started over, and no key
    /// repeats one of the batch's or one the inbox holds. nil, with nothing written, when the batch is not that case;
    /// `store` then takes the transaction.
    static func storeFresh(_ classifications: [WebhookClassification], database: Database, logger: Logger) async throws -> [WebhookIntake.Outcome]? {
        guard classifications.allSatisfy({ $0.syncFailure == nil && !$0.nangoStartedOver }),
              Set(classifications.map(\.event.dedupeKey)).count == classifications.count else { return nil }
        do {
            let stored = try await database.withConnection { connection in
                try await WebhookEventsTable.storeFresh(
                    classifications.map { WebhookEventsTable.FreshEvent(event: $0.event, job: $0.job) }, on: connection, logger: logger)
            }
            return stored?.map { .stored(eventID: $0.eventID, jobID: $0.jobID) }
        } catch let error as PSQLError where error.isUniqueViolation {
            // Bytes delivered concurrently (another writer or instance) took a key first; the statement wrote nothing.
            logger.notice("inbox batch met a concurrent delivery of one of its events; storing it through the transaction",
                          metadata: ["events": "\(classifications.count)"])
            return nil
        }
    }

    /// Another instance (or writer) committed an event of the same bytes between this batch's reservation and its
    /// insert: the batch is rolled back, and its events are stored again one by one, when that one reads as a repeat.
    struct ConcurrentDelivery: Error {}

    /// What stored events call for: each one's job and Nango's sync failures on the sync state. Returns each job's id
    /// by its event id. With `linkingEvents`, the events (already stored) are updated to name their jobs.
    static func consequences(
        of events: [(WebhookClassification, Int64)], linkingEvents: Bool = true, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Int64: Int64] {
        let jobs = events.compactMap { classification, eventID in classification.job.map { (job: $0, eventID: eventID) } }
        // Sync state rows in one order (by connection), so two batches touching the same ones never deadlock.
        let byConnection = events.map(\.0).sorted {
            ($0.event.integrationId ?? "", $0.event.connectionId ?? "", $0.event.model ?? "")
                < ($1.event.integrationId ?? "", $1.event.connectionId ?? "", $1.event.model ?? "")
        }
        for classification in byConnection {
            if let failure = classification.syncFailure {
                try await SyncStateTable.recordNangoFailure(failure, on: connection, logger: logger)
            }
            if classification.nangoStartedOver, let identity = classification.event.identity, let model = classification.event.model {
                try await SyncStateTable.markNangoRestart(identity, model: model, on: connection, logger: logger)
            }
        }
        return try await JobsTable.enqueueBatch(jobs, linkingEvents: linkingEvents, on: connection, logger: logger)
    }

    /// Stored webhooks, newest first, without their bodies.
    public static func events(_ filter: WebhookEventFilter, database: Database, logger: Logger) async throws -> [WebhookEvent] {
        try await database.withConnection { db in try await WebhookEventsTable.list(filter, on: db, logger: logger) }
    }

    /// How one replayed event went.
    public struct Replayed: Sendable, Equatable {
        public let eventId: Int64
        public let jobId: Int64?
        /// `enqueued`, `no_job` (the event calls for none), or `invalid` (its stored bytes no longer classify).
        public let outcome: String
    }

    /// The events a replay of `filter` would take (oldest first, at most its limit): what a confirmation shows.
    public static func replayPreview(_ filter: WebhookEventFilter, database: Database, logger: Logger) async throws -> [WebhookEvent] {
        try await database.withConnection { db in
            try await WebhookEventsTable.replayable(filter, id: nil, bodies: false, on: db, logger: logger).map(\.event)
        }
    }

    /// Replays stored events (one by id, or every event of a filter, oldest first): each event's stored bytes
    /// go through the same classification as on arrival and the same consequences, as one batch of the inbox's
    /// (a few statements however many events), in one transaction.
    public static func replay(
        _ filter: WebhookEventFilter, id: Int64?, database: Database, logger: Logger
    ) async throws -> [Replayed] {
        try await database.withTransaction(logger: logger) { db in
            let stored = try await WebhookEventsTable.replayable(filter, id: id, bodies: true, on: db, logger: logger)
            let classified = stored.compactMap { event, body in
                (try? WebhookClassification.classify(body: Array((body ?? "").utf8))).map { ($0, event.id) }
            }
            let jobIds = try await consequences(of: classified, on: db, logger: logger)
            let valid = Set(classified.map(\.1))
            try await WebhookEventsTable.markReplayed(ids: stored.map(\.event.id).filter { jobIds[$0] != nil }, on: db, logger: logger)
            return stored.map { event, _ in
                guard valid.contains(event.id) else { return Replayed(eventId: event.id, jobId: nil, outcome: "invalid") }
                guard let jobId = jobIds[event.id] else { return Replayed(eventId: event.id, jobId: nil, outcome: "no_job") }
                return Replayed(eventId: event.id, jobId: jobId, outcome: "enqueued")
            }
        }
    }
}

extension Inbox {
    /// One stored webhook with its body and its job, as ops open it.
    public static func event(id: Int64, database: Database, logger: Logger) async throws -> WebhookEventsTable.Detail? {
        try await database.withConnection { db in try await WebhookEventsTable.detail(id: id, on: db, logger: logger) }
    }
}
