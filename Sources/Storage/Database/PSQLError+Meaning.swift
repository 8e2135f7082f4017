import PostgresNIO

/// What the rest of the code asks of a Postgres error, answered in one place.
extension PSQLError {
    /// The server answered and refused the statement (a constraint, a bad value): the statement's fault,
    /// not a down or slow database.
    public var isRefusedByServer: Bool { serverInfo != nil }

    /// A unique index refused the row (23505).
    public var isUniqueViolation: Bool { serverInfo?[.sqlState] == "23505" }

    /// The statement named a table that does not exist (42P01).
    public var isUndefinedTable: Bool { serverInfo?[.sqlState] == "42P01" }

    /// The server's own message, or the error's description when the server never answered.
    public var serverMessage: String { serverInfo?[.message] ?? String(reflecting: self) }
}
