/// A statement did not do what its SQL guarantees (a broken invariant, not bad input).
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    case noRowReturned(String)

    public var description: String {
        switch self {
        case .noRowReturned(let statement): "\(statement) returned no row"
        }
    }
}
