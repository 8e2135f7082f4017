import Storage
import Foundation

/// Query parameters of a list into a checked `ListRequest`. Pure.
public enum ListRequestParser {
    public static func parse(
        _ parameters: [String: String], scope: String, signer: PageCursor.Signer
    ) throws(QueryParameterError) -> ListRequest {
        let known: Set<String> = ["limit", "cursor", "updated_since", "q", "sort", "include_deleted", "include"]
        if let unknown = parameters.keys.sorted().first(where: { !known.contains($0) }) {
            throw QueryParameterError(parameter: unknown, message: "is not a list parameter (known: \(known.sorted().joined(separator: ", ")))")
        }
        // Postgres refuses U+0000 in text: a 400 naming the parameter, not a failed query.
        if let name = parameters.keys.sorted().first(where: { parameters[$0]!.unicodeScalars.contains("\u{0}") }) {
            throw QueryParameterError(parameter: name, message: "must not contain U+0000 (NUL)")
        }
        var limit = ListRequest.defaultLimit
        if let text = parameters["limit"] {
            guard let value = Int(text), (1...ListRequest.maxLimit).contains(value) else {
                throw QueryParameterError(parameter: "limit", message: "must be a number from 1 to \(ListRequest.maxLimit)")
            }
            limit = value
        }
        var sortText = parameters["sort"] ?? "updated_at"
        let descending = sortText.hasPrefix("-")
        if descending { sortText.removeFirst() }
        guard let sort = ListRequest.SortKey(rawValue: sortText) else {
            throw QueryParameterError(parameter: "sort", message: "must be one of \(ListRequest.SortKey.allCases.flatMap { [$0.rawValue, "-" + $0.rawValue] }.joined(separator: ", "))")
        }
        var updatedSince: String?
        if let text = parameters["updated_since"] {
            guard let date = ISO8601DateFormatter().date(from: text) ?? fractional(text) else {
                throw QueryParameterError(parameter: "updated_since", message: "must be an ISO 8601 time such as 2026-01-31T00:00:00Z")
            }
            updatedSince = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        }
        var search: String?
        if let text = parameters["q"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
            guard text.count <= 200 else { throw QueryParameterError(parameter: "q", message: "must be at most 200 characters") }
            search = text
        }
        let includeDeleted = try flag(parameters["include_deleted"], "include_deleted")
        var includeRaw = false
        if let include = parameters["include"] {
            guard include == "raw" else { throw QueryParameterError(parameter: "include", message: "accepts only 'raw'") }
            includeRaw = true
        }
        var request = ListRequest(
            limit: limit, sort: sort, descending: descending, updatedSince: updatedSince, search: search,
            includeDeleted: includeDeleted, includeRaw: includeRaw, cursor: nil)
        if let text = parameters["cursor"], !text.isEmpty {
            request.cursor = try signer.decode(text, scope: cursorScope(request, scope: scope))
        }
        return request
    }

    /// The scope a cursor is bound to: the list and every filter that shapes its order.
    public static func cursorScope(_ request: ListRequest, scope: String) -> String {
        [scope, request.sort.rawValue, request.descending ? "desc" : "asc", request.updatedSince ?? "", request.search ?? "",
         request.includeDeleted ? "d" : ""].joined(separator: "|")
    }

    static func fractional(_ text: String) -> Date? {
        try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }

    public static func flag(_ text: String?, _ name: String) throws(QueryParameterError) -> Bool {
        switch text {
        case nil, "false", "0": return false
        case "true", "1", "": return true
        default: throw QueryParameterError(parameter: name, message: "must be true or false")
        }
    }
}
