import Foundation
import Logging
import MarketplaceCore
import NIOCore
import Storage

/// Pages of the four resources, as the API answers them: `{"data": [...], "next_cursor": ...}`.
public struct ResourceReader: Sendable {
    let database: Database
    let signer: PageCursor.Signer
    let cache: QueryCache?

    public init(database: Database, cursorSecret: String, cache: QueryCache?) {
        self.database = database
        self.signer = PageCursor.Signer(secret: cursorSecret)
        self.cache = cache
    }

    /// A checked list request; the cursor must come from this same list (kind, company, filters).
    public func request(_ parameters: [String: String], kind: Resource, companyId: UUID?) throws(QueryParameterError) -> ListRequest {
        try ListRequestParser.parse(parameters, scope: Self.scope(kind, companyId), signer: signer)
    }

    static func scope(_ kind: Resource, _ companyId: UUID?) -> String {
        kind.rawValue + ":" + (companyId?.lowercasedString ?? "*")
    }

    /// The page's JSON body: from the cache for one company's resources, else from Postgres.
    /// nil when a company's resources are asked for and the company does not exist; a cached page
    /// therefore also answers whether the company exists (companies are never deleted, only disconnected).
    public func page(_ kind: Resource, companyId: UUID?, request: ListRequest, logger: Logger) async throws -> CachedAnswer? {
        guard let cache, let companyId, kind != .companies else {
            return try await load(kind, companyId: companyId, request: request, logger: logger).map(CachedAnswer.init(body:))
        }
        let description = [
            request.sort.rawValue, request.descending ? "desc" : "asc", String(request.limit), request.updatedSince ?? "",
            request.search ?? "", request.includeDeleted ? "d" : "", request.includeRaw ? "raw" : "",
            request.cursor.map { "\($0.value)|\($0.id)" } ?? "",
        ].joined(separator: "\u{1F}")
        let stored = try await cache.value(companyId: companyId, resource: .lists(kind), request: description) {
            try await load(kind, companyId: companyId, request: request, logger: logger).map { CachedAnswer(body: $0).stored } ?? ""
        }.0
        return CachedAnswer(stored: stored)
    }

    func load(_ kind: Resource, companyId: UUID?, request: ListRequest, logger: Logger) async throws -> String? {
        var after: (value: String, id: UUID)?
        if let cursor = request.cursor {
            guard let id = UUID(uuidString: cursor.id) else {
                throw QueryParameterError(parameter: "cursor", message: "is not a cursor this list handed out")
            }
            after = (cursor.value, id)
        }
        let query = ResourceReadTable.PageQuery(
            table: kind, companyId: companyId,
            sort: request.sort, descending: request.descending, after: after,
            updatedSince: request.updatedSince, search: request.search, includeDeleted: request.includeDeleted,
            includeRaw: request.includeRaw, limit: request.limit)
        let rows = try await database.withConnection { db -> [ResourceReadTable.Row]? in
            let rows = try await ResourceReadTable.page(query, on: db, logger: logger)
            // Rows reference their company; only an empty page needs to ask whether it exists.
            if rows.isEmpty, kind != .companies, let companyId, try await ResourceReadTable.company(id: companyId, on: db, logger: logger) == nil {
                return nil
            }
            return rows
        }
        guard let rows else { return nil }
        let items = rows.prefix(request.limit)
        var body = "{\"data\":["
        body.reserveCapacity(items.reduce(32) { $0 + $1.json.utf8.count + 1 })
        for (index, row) in items.enumerated() {
            if index > 0 { body += "," }
            body += row.json
        }
        body += "],\"next_cursor\":"
        if rows.count > request.limit, let last = items.last {
            let cursor = PageCursor(
                sort: request.sort.rawValue, value: last.sortValue, id: last.id.lowercasedString,
                scope: ListRequestParser.cursorScope(request, scope: Self.scope(kind, companyId)))
            JSONValue.writeString(signer.encode(cursor), to: &body)
        } else {
            body += "null"
        }
        body += "}"
        return body
    }

    /// One company as JSON, or nil.
    public func company(_ id: UUID, logger: Logger) async throws -> CachedAnswer? {
        let load = { () async throws -> String in
            let row = try await database.withConnection { db in try await ResourceReadTable.company(id: id, on: db, logger: logger) }
            return row.map { CachedAnswer(body: $0.json).stored } ?? ""
        }
        guard let cache else { return CachedAnswer(stored: ByteBuffer(string: try await load())) }
        return CachedAnswer(stored: try await cache.value(companyId: id, resource: .company, request: "", load: load).0)
    }
}
