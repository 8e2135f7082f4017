import Storage

/// What a list request asks for, checked.
public struct ListRequest: Sendable, Equatable {
    /// Sort keys a client may ask for (a leading `-` sorts descending); each is served by an index.
    public typealias SortKey = ResourceReadTable.Sort

    public var limit: Int
    public var sort: SortKey
    public var descending: Bool
    public var updatedSince: String?
    public var search: String?
    public var includeDeleted: Bool
    public var includeRaw: Bool
    public var cursor: PageCursor?

    public static let defaultLimit = 50
    public static let maxLimit = 500
}

/// A bad list parameter: 400, naming it.
public struct QueryParameterError: Error, Sendable, Equatable, CustomStringConvertible {
    public let parameter: String
    public let message: String

    public init(parameter: String, message: String) {
        self.parameter = parameter
        self.message = message
    }

    public var description: String { "'\(parameter)' \(message)" }
}
