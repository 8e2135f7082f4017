import Foundation
import Logging
import MarketplaceCore
import ServiceLifecycle
import Storage

/// Why a change feed request cannot be answered with changes.
public enum ChangeFeedError: Error, Sendable, Equatable {
    /// The cursor is behind what retention deleted: changes after it may be gone.
    case cursorExpired
    /// This instance holds as many long polls as it may.
    case tooManyWaiters
}

/// `GET /api/companies/{id}/changes` and `GET /api/changes`: pages of the change log after a cursor, held open
/// (`wait`) until a change commits. A held request holds no database connection: it reads, waits for a signal
/// (``ChangeListener``: a commit's `NOTIFY`, or its tick when changes became readable later), and reads again. It
/// reads only when signalled, so a thousand held requests cost the database the listener's one statement a second,
/// not a thousand.
public struct ChangeFeed: Sendable {
    let database: Database
    public let cursors: ChangeCursor
    let signals: ChangeSignals

    public init(database: Database, cursorSecret: String, signals: ChangeSignals) {
        self.database = database
        self.cursors = ChangeCursor(secret: cursorSecret)
        self.signals = signals
    }

    public func request(_ parameters: [String: String], companyId: UUID?) throws(QueryParameterError) -> ChangeFeedRequest {
        try ChangeFeedRequest.parse(parameters, companyId: companyId, cursors: cursors)
    }

    /// The answer's JSON body; nil when `companyId` names no company.
    public func answer(_ request: ChangeFeedRequest, companyId: UUID?, logger: Logger) async throws -> String? {
        // A request that may wait takes its place before its first read, so a signal during that read is kept.
        let hold = request.wait > .zero ? signals.hold(companyId: companyId) : nil
        defer { hold?.release() }
        let first = try await read(request, companyId: companyId, logger: logger)
        guard let first else { return nil }
        guard first.changes.isEmpty, request.wait > .zero else { return render(first, companyId: companyId) }
        guard let hold else {
            if signals.isShuttingDown { return render(first, companyId: companyId) }
            throw ChangeFeedError.tooManyWaiters
        }
        // A stopping server answers every held request at once (the signal reaches handlers as it reaches services).
        return try await withGracefulShutdownHandler {
            try await follow(request, from: first, hold: hold, companyId: companyId, logger: logger)
        } onGracefulShutdown: { [signals] in
            signals.signalAll(stopping: true)
        }
    }

    func follow(_ request: ChangeFeedRequest, from first: ChangeRead, hold: ChangeSignals.Hold, companyId: UUID?, logger: Logger) async throws -> String? {
        let deadline = ContinuousClock.now + request.wait
        var position = first.end
        var last = first
        while ContinuousClock.now < deadline, !signals.isShuttingDown {
            // Woken or not, it reads once more when the wait runs out.
            await hold.wait(timeout: deadline - ContinuousClock.now)
            var next = request
            next.start = .after(position)
            guard let read = try await read(next, companyId: companyId, logger: logger) else { return nil }
            last = read
            position = read.end
            if !read.changes.isEmpty { break }
        }
        return render(last, companyId: companyId)
    }

    func read(_ request: ChangeFeedRequest, companyId: UUID?, logger: Logger) async throws -> ChangeRead? {
        try await database.withConnection { db -> ChangeRead? in
            if let companyId, try await ResourceReadTable.company(id: companyId, on: db, logger: logger) == nil { return nil }
            switch request.start {
            case .now:
                return ChangeRead(changes: [], hasMore: false, end: try await ChangesTable.head(on: db, logger: logger))
            case .after(let position):
                if position < (try await ChangesTable.horizon(on: db, logger: logger)) { throw ChangeFeedError.cursorExpired }
                return try await ChangesTable.read(companyId: companyId, after: position, resources: request.resources,
                                                   limit: request.limit, on: db, logger: logger)
            }
        }
    }

    /// `{"data": [...], "next_cursor": "...", "has_more": bool}`; each change names its company.
    func render(_ read: ChangeRead, companyId: UUID?) -> String {
        var body = "{\"data\":["
        body.reserveCapacity(read.changes.reduce(64) { $0 + $1.data.utf8.count + 320 })
        for (index, change) in read.changes.enumerated() {
            if index > 0 { body += "," }
            change.writeJSON(to: &body)
        }
        body += "],\"next_cursor\":"
        JSONValue.writeString(cursors.encode(read.end, companyId: companyId), to: &body)
        body += ",\"has_more\":\(read.hasMore)}"
        return body
    }
}
