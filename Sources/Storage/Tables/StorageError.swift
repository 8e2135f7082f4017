import PostgresNIO
/// A statement did not do what its SQL guarantees (a broken invariant, not bad input).
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    case noRowReturned(String)
    /// A column held a value outside the set its CHECK constraint allows.
    case unexpectedValue(String, String)

    public var description: String {
        switch self {
        case .noRowReturned(let statement): "\(statement) returned no row"
        case .unexpectedValue(let column, let value): "\(column) holds the unexpected value '\(value)'"
        }
    }
}

extension PostgresRowSequence {
    /// How many rows a statement returned (`DELETE … RETURNING id` and the like).
    func count() async throws -> Int {
        var count = 0
        for try await _ in self { count += 1 }
        return count
    }
}
