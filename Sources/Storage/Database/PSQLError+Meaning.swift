import PostgresNIO

/// What a failed statement means for whoever asked, read from Postgres' SQLSTATE
/// (https://www.postgresql.org/docs/current/errcodes-appendix.html). The HTTP edge answers by it, once.
public enum PostgresFailure: Sendable, Equatable {
    /// Class 22: a value the statement was given is malformed or out of range. The caller sent it; a retry of
    /// the same request fails the same way.
    case invalidValue
    /// Class 23: a constraint (unique, foreign key, check, not null) refused the write: the request conflicts with
    /// what is stored.
    case conflict
    /// The server answered but cannot serve now and may shortly: connection trouble (08), insufficient resources
    /// (53), a shutdown, crash or restart (57P0x), a serialization failure (40001), a deadlock (40P01), a statement
    /// timeout or cancel (57014), a lock not available (55P03).
    case transient
    /// The server never answered: the connection could not be made or was lost before a reply.
    case unreachable
    /// Any other refusal (a syntax error, a missing table, a permission): a statement this service should not have
    /// sent, which no retry can fix.
    case refused

    /// `sqlState` is nil when the server never answered.
    public init(sqlState: String?) {
        guard let state = sqlState else {
            self = .unreachable
            return
        }
        switch state.prefix(2) {
        case "22": self = .invalidValue
        case "23": self = .conflict
        case "08", "53": self = .transient
        default:
            switch state {
            case "40001", "40P01", "57014", "55P03": self = .transient
            case _ where state.hasPrefix("57P0"): self = .transient
            default: self = .refused
            }
        }
    }
}

/// What the rest of the code asks of a Postgres error, answered in one place.
extension PSQLError {
    /// What the failure means for the caller, by the server's SQLSTATE (or its absence).
    public var meaning: PostgresFailure { PostgresFailure(sqlState: serverInfo?[.sqlState]) }

    /// The server answered with an error of its own, whatever its SQLSTATE (a transient one included): what it
    /// means for the caller is `meaning`.
    public var isRefusedByServer: Bool { serverInfo != nil }

    /// The connection itself is gone (closed by either side, or broken): nothing more can be sent on it, and a
    /// statement sent anyway would never be answered (see ConnectionWatch).
    public var isConnectionLost: Bool {
        [PSQLError.Code.serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .connectionError].contains(code)
            || serverInfo?[.severity] == "FATAL"
    }

    /// A unique index refused the row (23505).
    public var isUniqueViolation: Bool { serverInfo?[.sqlState] == "23505" }

    /// The statement named a table that does not exist (42P01).
    public var isUndefinedTable: Bool { serverInfo?[.sqlState] == "42P01" }

    /// The server's own message, or the error's description when the server never answered.
    public var serverMessage: String { serverInfo?[.message] ?? String(reflecting: self) }
}
