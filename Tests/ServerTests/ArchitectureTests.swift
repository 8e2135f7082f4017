import Foundation
import Testing

/// The layering, checked on the sources: the HTTP edge parses, authorizes, calls one use case and renders;
/// it never reaches past the use cases into Storage's SQL.
@Suite struct ArchitectureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func swiftFiles(under folder: String) throws -> [URL] {
        let directory = root.appendingPathComponent(folder)
        let enumerator = try #require(FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil))
        return enumerator.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }

    /// Every `public enum XxxTable` Storage declares: the types that own SQL.
    static func storageTables() throws -> Set<String> {
        var names = Set<String>()
        for file in try swiftFiles(under: "Sources/Storage") {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: /public enum ([A-Za-z]+Table)\b/) { names.insert(String(match.1)) }
        }
        return names
    }

    @Test func noFileInServerUsesAStorageTableType() throws {
        let tables = try Self.storageTables()
        // The scan must see the tables, or it proves nothing.
        #expect(tables.isSuperset(of: ["CompaniesTable", "JobsTable", "SyncStateTable", "QuarantineTable", "WebhookEventsTable"]))
        let files = try Self.swiftFiles(under: "Sources/Server")
        #expect(files.count > 20)
        // The console's sign-ins are the edge's own state: no use case of Ingest, Pipeline or Query owns them.
        let allowed: [String: Set<String>] = ["ConsoleSessionStore.swift": ["ConsoleSessionsTable"]]
        var offenders: [String] = []
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: /\b([A-Za-z]+Table)\b/) where tables.contains(String(match.1))
                && allowed[file.lastPathComponent]?.contains(String(match.1)) != true {
                offenders.append("\(file.lastPathComponent): \(match.1)")
            }
        }
        #expect(offenders == [], "Server must call a use case (Ingest, Pipeline, Query), not a table")
    }

    /// Every write a job makes is fenced by its lease (`JobContext.write`), its last one included, and every read it
    /// makes runs read-only (`Database.read`, where Postgres refuses a write): a handler that reaches for the pool
    /// directly could write after its lease passed to another worker.
    @Test func jobHandlersWriteOnlyThroughTheirLease() throws {
        // PlannerStatistics runs ANALYZE (no row a client reads), which a read-only transaction refuses.
        let exempt: Set<String> = ["PlannerStatistics.swift"]
        var handlerFiles: [URL] = []
        for file in try Self.swiftFiles(under: "Sources/Pipeline") + Self.swiftFiles(under: "Sources/Connections") {
            let text = try String(contentsOf: file, encoding: .utf8)
            let isHandler = text.contains(": JobHandler {")
            let isJobHelper = file.path.contains("/Pipeline/Sync/") || ["NangoJobFailure.swift", "CompanyStatusChange.swift"].contains(file.lastPathComponent)
            if (isHandler || isJobHelper) && !exempt.contains(file.lastPathComponent) { handlerFiles.append(file) }
        }
        // The scan must see the handlers, or it proves nothing.
        let names = Set(handlerFiles.map(\.lastPathComponent))
        #expect(names.isSuperset(of: ["SyncRunner.swift", "FullResyncRunner.swift", "BackfillRunner.swift", "RederiveRunner.swift",
                                      "ConnectionJobs.swift", "StreamRead.swift", "NangoJobFailure.swift"]))
        var offenders: [String] = []
        for file in handlerFiles {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: /\.(withConnection|withTransaction|query)\(|(fencedBy|lease): nil/) {
                offenders.append("\(file.lastPathComponent): \(match.0)")
            }
        }
        #expect(offenders == [], "a job writes through context.write (fenced by its lease) and reads through database.read")
    }
}
