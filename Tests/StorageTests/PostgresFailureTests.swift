import Storage
import Testing

/// SQLSTATE to meaning, by hand: what each class of refusal tells the caller (the HTTP edge answers by it).
@Suite struct PostgresFailureTests {
    @Test(arguments: [
        // Class 22, a bad value: out of range, invalid text for the type, a character the encoding refuses (U+0000).
        ("22003", PostgresFailure.invalidValue), ("22P02", .invalidValue), ("22021", .invalidValue), ("22008", .invalidValue),
        ("22001", .invalidValue), ("22000", .invalidValue),
        // Class 23, a constraint: unique, foreign key, check, not null, exclusion.
        ("23505", .conflict), ("23503", .conflict), ("23514", .conflict), ("23502", .conflict), ("23P01", .conflict),
        // Worth a retry: connection trouble, resources, shutdown and restart, serialization, deadlock, timeout, lock.
        ("08000", .transient), ("08006", .transient), ("08P01", .transient), ("53000", .transient), ("53100", .transient),
        ("53300", .transient), ("57P01", .transient), ("57P02", .transient), ("57P03", .transient), ("57P04", .transient),
        ("57P05", .transient), ("40001", .transient), ("40P01", .transient), ("57014", .transient), ("55P03", .transient),
        // Anything else: the statement's own fault, which a retry repeats.
        ("40000", .refused), ("40002", .refused), ("40003", .refused), ("57000", .refused), ("55000", .refused),
        ("55006", .refused), ("42P01", .refused), ("42601", .refused), ("42501", .refused), ("25P02", .refused),
        ("XX000", .refused), ("P0001", .refused), ("02000", .refused),
    ])
    func theSQLStateSaysWhatTheFailureMeans(state: String, meaning: PostgresFailure) {
        #expect(PostgresFailure(sqlState: state) == meaning, "\(state)")
    }

    @Test func noAnswerFromTheServerIsUnreachable() {
        #expect(PostgresFailure(sqlState: nil) == .unreachable)
    }
}
