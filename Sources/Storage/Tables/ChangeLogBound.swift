import Logging
import PostgresNIO

/// Where readers of the change log and of `outbound_events` stop (`change_log_bound()`, migration 0029), and when to
/// take it again.
///
/// The bound comes from the statement's snapshot, and running transactions of other databases are left out by what
/// `pg_stat_get_activity` shows a moment later. One that ends in that moment is no longer shown: unseen, it stays in
/// and holds the bound at its xid, below changes of this database that committed after it took its xid (seconds
/// before, for a long transaction). Nothing is lost, since the bound only ever errs low, but `after=now` then stands
/// before those changes and hands them out again, and a page says `has_more: false` with more to read. CI saw it: a
/// long poll from `after=now` answered with changes its test had written, and waited to be readable, beforehand.
///
/// Such a holder cannot be told from a transaction of this database that committed after the snapshot (whose changes
/// that snapshot does not show), so the bound of that statement stands. But it has ended, and a new statement's
/// snapshot no longer lists it: the statement reports `ended` and the reader reads again.
enum ChangeLogBound {
    /// The `bound` CTE a reading statement starts with: `xid`, the bound, and `ended`, whether the transaction holding
    /// it had ended by the time it was taken. The function runs once a statement: in a `MATERIALIZED` CTE of its own,
    /// since Postgres pulls a subquery without `FROM` up into every expression that uses it (three calls here), and
    /// inlined into the read it ran once per row returned (a page of 1,000 changes read at a quarter of the rate). The
    /// reader's own transaction, the snapshot's `xmax` (nothing holds the bound there) and an xid too old to look up
    /// never count as ended; `pg_xact_status` is not asked about `xmax`, which may not be assigned yet.
    static let cte = """
        WITH taken AS MATERIALIZED (SELECT change_log_bound() AS xid),
        bound AS MATERIALIZED (
            SELECT taken.xid, CASE WHEN taken.xid < pg_snapshot_xmax(pg_current_snapshot())
                                   THEN coalesce(pg_xact_status(taken.xid) <> 'in progress', false) ELSE false END AS ended
            FROM taken)
        """

    /// The bound one statement takes now.
    static func take(on connection: PostgresConnection, logger: Logger) async throws -> (xid: UInt64, ended: Bool) {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: cte + " SELECT xid::text, ended FROM bound"), logger: logger)
        for try await (xid, ended) in rows.decode((String, Bool).self) { return (UInt64(xid) ?? 0, ended) }
        return (0, false)
    }

    /// The bound now, taken again while its holder had ended.
    static func current(on connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        try await reading {
            let bound = try await take(on: connection, logger: logger)
            return (bound.xid, retake: bound.ended)
        }
    }

    /// Statements a read takes at most. Each retake needs another holder to end in the moment its statement takes
    /// the bound. In a `REPEATABLE READ` transaction every statement reads the same snapshot: the last answer stands,
    /// low, as a bound may be.
    static let attempts = 4

    /// Runs `read` until it needs no retake, `attempts` times at most, and returns its last answer.
    static func reading<Answer>(_ read: () async throws -> (answer: Answer, retake: Bool)) async throws -> Answer {
        var attempt = 1
        while true {
            let (answer, retake) = try await read()
            if !retake || attempt >= attempts { return answer }
            attempt += 1
        }
    }
}
