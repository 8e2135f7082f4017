import Crypto
import Foundation

/// One versioned SQL file: `NNNN_description.sql`. Its checksum is recorded when applied,
/// so an edit to an applied migration is caught instead of silently diverging.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of the file's bytes, hex.
    public var checksum: String {
        SHA256.hash(data: Data(sql.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// The migrations shipped with this build, in version order.
    public static func bundled() throws(MigrationError) -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw .missingResources
        }
        let files: [URL]
        do {
            files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
        } catch {
            throw .missingResources
        }
        var migrations: [Migration] = []
        for file in files where file.pathExtension == "sql" {
            let name = file.deletingPathExtension().lastPathComponent
            guard let underscore = name.firstIndex(of: "_"), let version = Int(name[..<underscore]), version > 0 else {
                throw .invalidFileName(file.lastPathComponent)
            }
            guard let sql = try? String(contentsOf: file, encoding: .utf8) else {
                throw .invalidFileName(file.lastPathComponent)
            }
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        return try ordered(migrations)
    }

    /// Sorts by version and refuses two files with one version.
    public static func ordered(_ migrations: [Migration]) throws(MigrationError) -> [Migration] {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw .duplicateVersion(previous.version, previous.name, next.name)
        }
        return sorted
    }
}
