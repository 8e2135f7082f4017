import Foundation
import Testing

/// The module list a newcomer reads (docs/architecture.md, "Modules") and the targets Package.swift builds are the
/// same set: a new, renamed or removed module fails here until the list says so.
@Suite struct DocumentedModulesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every target of Package.swift that is not a test target (libraries, executables, system libraries, plugins).
    static func packageTargets() throws -> Set<String> {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let pattern = /\.(?:target|executableTarget|systemLibrary|binaryTarget|plugin|macro)\(\s*name:\s*"([^"]+)"/
        return Set(manifest.matches(of: pattern).map { String($0.1) })
    }

    /// The names in the code block of docs/architecture.md's "## Modules" section: each module is a line
    /// indented by exactly two spaces, `  Name/  what it holds` (deeper lines continue the one above).
    static func documentedModules() throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        let section = try #require(text.components(separatedBy: "\n## Modules\n").dropFirst().first,
                                   "docs/architecture.md has no \"## Modules\" section")
        let body = section.components(separatedBy: "\n## ").first ?? section
        let fences = body.components(separatedBy: "```")
        try #require(fences.count >= 3, "the Modules section has no code block")
        var names = Set<String>()
        for line in fences[1].split(separator: "\n", omittingEmptySubsequences: true) {
            if let match = line.wholeMatch(of: /\ {2}([A-Za-z][A-Za-z0-9]*)\/\s.*/) { names.insert(String(match.1)) }
        }
        return names
    }

    @Test func architectureDocListsEveryTargetOfPackageSwiftAndNoOther() throws {
        let targets = try Self.packageTargets()
        let documented = try Self.documentedModules()
        // Both scans must find the modules, or the comparison proves nothing.
        #expect(targets.isSuperset(of: ["MarketplaceCore", "Storage", "Nango", "Redis", "Connections", "Tokens", "Ingest",
                                        "Pipeline", "Query", "Server", "NangoEmulator", "CHiredis", "TestSupport"]))
        #expect(!targets.contains { $0.hasSuffix("Tests") }, "test targets are not modules: \(targets.sorted())")
        #expect(documented.count >= 10)
        #expect(targets.subtracting(documented).sorted() == [],
                "targets of Package.swift missing from docs/architecture.md's module list")
        #expect(documented.subtracting(targets).sorted() == [],
                "docs/architecture.md lists modules that Package.swift does not build")
    }
}
