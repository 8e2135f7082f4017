/// Why migrating stopped. Each case names the migration and what to do.
public enum MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingResources
    case invalidFileName(String)
    case duplicateVersion(Int, String, String)
    case checksumMismatch(version: Int, name: String, recorded: String, current: String)
    case statementFailed(name: String, statement: Int, message: String)

    public var description: String {
        switch self {
        case .missingResources:
            "the migration files are missing from this build (Storage resources bundle not found)"
        case .invalidFileName(let file):
            "migration file '\(file)' must be named NNNN_description.sql and be UTF-8"
        case .duplicateVersion(let version, let first, let second):
            "migrations '\(first)' and '\(second)' share version \(version)"
        case .checksumMismatch(let version, let name, let recorded, let current):
            "migration \(name) (version \(version)) was edited after it was applied: checksum recorded "
                + "\(recorded.prefix(12))…, file has \(current.prefix(12))…. Restore the file and put the change in a new migration."
        case .statementFailed(let name, let statement, let message):
            "migration \(name) failed at statement \(statement): \(message); nothing of it was applied"
        }
    }
}
