import Foundation

/// What to read from `GET /records`.
public struct NangoRecordsQuery: Sendable, Equatable {
    public enum Filter: String, Sendable { case added, updated, deleted }

    public var connectionId: String
    public var providerConfigKey: String
    public var model: String
    public var variant: String?
    /// Resume strictly after this record cursor (the `_nango_metadata.cursor` last processed).
    public var cursor: String?
    /// Inclusive; Nango accepts only the `Z` form and at most 12 months back.
    public var modifiedAfter: Date?
    public var limit: Int?
    public var filter: [Filter]
    public var ids: [String]

    public init(
        connectionId: String, providerConfigKey: String, model: String, cursor: String? = nil,
        modifiedAfter: Date? = nil, limit: Int? = nil, filter: [Filter] = [], ids: [String] = []
    ) {
        self.connectionId = connectionId
        self.providerConfigKey = providerConfigKey
        self.model = model
        self.cursor = cursor
        self.modifiedAfter = modifiedAfter
        self.limit = limit
        self.filter = filter
        self.ids = ids
    }

    var items: [(String, String)] {
        var items = [("model", model)]
        if let variant { items.append(("variant", variant)) }
        if let cursor { items.append(("cursor", cursor)) }
        if let modifiedAfter {
            items.append(("modified_after", modifiedAfter.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))))
        }
        if let limit { items.append(("limit", String(limit))) }
        if !filter.isEmpty { items.append(("filter", filter.map(\.rawValue).joined(separator: ","))) }
        for id in ids { items.append(("ids", id)) }
        return items
    }
}

/// The pages of a model's change stream, in order, the one reader of it: while the caller works on a page
/// the next one is already on its way (one page ahead, never more).
public struct NangoRecordPages: AsyncSequence, Sendable {
    public typealias Element = NangoRecordsPage
    let client: NangoClient
    let query: NangoRecordsQuery

    public struct AsyncIterator: AsyncIteratorProtocol {
        let client: NangoClient
        var query: NangoRecordsQuery
        var finished = false
        var prefetch: Task<NangoRecordsPage, any Error>?

        public mutating func next() async throws -> NangoRecordsPage? {
            guard !finished else { return nil }
            let fetching = prefetch ?? Task { [client, query] in try await client.recordsPage(query) }
            prefetch = nil
            let page: NangoRecordsPage
            do {
                page = try await withTaskCancellationHandler { try await fetching.value } onCancel: { fetching.cancel() }
            } catch {
                finished = true
                throw error
            }
            if let next = page.nextCursor {
                query.cursor = next
                query.modifiedAfter = nil   // the cursor already positions the stream
                prefetch = Task { [client, query] in try await client.recordsPage(query) }
            } else {
                finished = true
            }
            return page
        }

        /// Stops early (shutdown): the page on its way is abandoned.
        public mutating func cancel() {
            prefetch?.cancel()
            prefetch = nil
            finished = true
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(client: client, query: query)
    }
}
