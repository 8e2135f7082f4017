import Foundation
import Storage

/// A checked `GET …/changes` request.
public struct ChangeFeedRequest: Sendable, Equatable {
    public enum Start: Sendable, Equatable {
        /// `after=now`: the current end of the feed.
        case now
        case after(ChangePosition)
    }

    public var start: Start
    public var limit: Int
    /// nil: every resource.
    public var resources: Set<Resource>?
    /// How long to hold the request when nothing follows the cursor.
    public var wait: Duration

    public static let defaultLimit = 100
    public static let maxLimit = 1000
    public static let maxWaitSeconds = 30

    static let known: Set<String> = ["after", "limit", "resources", "wait"]

    /// Checks every parameter; the cursor must come from this same feed.
    public static func parse(
        _ parameters: [String: String], companyId: UUID?, cursors: ChangeCursor
    ) throws(QueryParameterError) -> ChangeFeedRequest {
        if let unknown = parameters.keys.sorted().first(where: { !known.contains($0) }) {
            throw QueryParameterError(parameter: unknown, message: "is not a change feed parameter (known: \(known.sorted().joined(separator: ", ")))")
        }
        guard let after = parameters["after"], !after.isEmpty else {
            throw QueryParameterError(parameter: "after", message: "is required: a cursor from this feed, or `now` for its current end")
        }
        let start: Start
        do {
            start = after == "now" ? .now : .after(try cursors.decode(after, companyId: companyId))
        } catch {
            switch error {
            case .notOurs:
                throw QueryParameterError(parameter: "after", message: "is not a cursor this feed handed out (start from after=now)")
            case .anotherFeed:
                throw QueryParameterError(parameter: "after", message: "belongs to another feed (another company's, or the other endpoint's)")
            }
        }
        let limit = try integer(parameters["limit"], "limit", default: defaultLimit, in: 1...maxLimit)
        let wait = try integer(parameters["wait"], "wait", default: 0, in: 0...maxWaitSeconds)
        var resources: Set<Resource>?
        if let text = parameters["resources"] {
            var chosen: Set<Resource> = []
            for name in text.split(separator: ",", omittingEmptySubsequences: false) {
                guard let resource = Resource(rawValue: String(name)) else {
                    let names = Resource.allCases.map(\.rawValue).joined(separator: ",")
                    throw QueryParameterError(parameter: "resources", message: "must be a comma list of \(names)")
                }
                chosen.insert(resource)
            }
            resources = chosen
        }
        return ChangeFeedRequest(start: start, limit: limit, resources: resources, wait: .seconds(wait))
    }

    static func integer(_ text: String?, _ name: String, default value: Int, in range: ClosedRange<Int>) throws(QueryParameterError) -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw QueryParameterError(parameter: name, message: "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}
