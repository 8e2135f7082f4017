import Storage
import Foundation
import Testing

@testable import Pipeline

@Suite struct PipelineLoaderTests {
    static let repositoryFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("pipelines.yaml").path

    @Test func theShippedFileChecksCleanAndCoversEveryTargetAndProvider() throws {
        let set = try PipelineLoader.load(path: Self.repositoryFile)
        #expect(Set(set.pipelines.map(\.target)) == Set(Resource.allCases))
        // Matched by provider: they work for whatever integration key a customer chose.
        #expect(Set(set.pipelines.compactMap(\.source.provider)) == ["quickbooks", "xero", "hubspot", "salesforce"])
        #expect(set.pipelines.allSatisfy { $0.source.integration == nil })
        #expect(set.subscribers(integration: "salesforce-prod", provider: "salesforce", model: "Account").count == 2)
        #expect(set.subscribers(integration: "salesforce", provider: "hubspot", model: "Account").isEmpty)
        #expect(set.hash.count == 64)
    }

    /// A valid file to break one line at a time.
    static let valid = """
        version: 1
        defaults:
          page_size: 200
        pipelines:
          - name: qb
            source: { integration: quickbooks, model: Customer }
            target: contacts
            stages:
              - map:
                  external_id: id
                  email: email
                  phone: phone
                  address.country: country
              - normalize: { email: email, phone: { e164: { default_region: US } } }
              - validate: { required: [external_id], email: email }
        """

    static func diagnostics(_ yaml: String) -> [PipelineDiagnostic] {
        do {
            _ = try PipelineLoader.parse(yaml: yaml, path: "broken.yaml")
            return []
        } catch {
            return error.diagnostics
        }
    }

    static func replacing(_ old: String, with new: String) -> String {
        precondition(valid.contains(old), "fixture text not found: \(old)")
        return valid.replacingOccurrences(of: old, with: new)
    }

    @Test func theValidFixtureIsValid() throws {
        let set = try PipelineLoader.parse(yaml: Self.valid, path: "ok.yaml")
        #expect(set.pipelines.first?.pageSize == 200)
        #expect(set.pipelines.first?.normalizers.count == 2)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let yaml: String
        let line: Int
        let column: Int
        let message: String
        let hint: String?

        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "unknown top-level key", yaml: replacing("defaults:", with: "defualts:"),
             line: 2, column: 1, message: "unknown key 'defualts' in the pipelines file", hint: "did you mean 'defaults'?"),
        Case(name: "unknown stage", yaml: replacing("- normalize:", with: "- normalise:"),
             line: 14, column: 9, message: "unknown stage 'normalise'", hint: "did you mean 'normalize'?"),
        Case(name: "unknown target field", yaml: replacing("          email: email\n", with: "          emial: email\n"),
             line: 11, column: 11, message: "unknown field 'emial' for target 'contacts'", hint: "did you mean 'email'?"),
        Case(name: "malformed source path", yaml: replacing("phone: phone", with: "phone: phones..number"),
             line: 12, column: 25, message: "expected a field name at '.number' in source path 'phones..number'", hint: nil),
        Case(name: "wrong type", yaml: replacing("page_size: 200", with: "page_size: lots"),
             line: 3, column: 14, message: "page_size must be a whole number, found 'lots'", hint: nil),
        Case(name: "value out of range", yaml: replacing("page_size: 200", with: "page_size: 50000"),
             line: 3, column: 14, message: "page_size must be between 1 and 10000, found 50000", hint: nil),
        Case(name: "unknown target", yaml: replacing("target: contacts", with: "target: contact"),
             line: 7, column: 13, message: "unknown target 'contact'", hint: "did you mean 'contacts'?"),
        Case(name: "required target field not mapped", yaml: replacing("          external_id: id\n", with: "").replacingOccurrences(of: "required: [external_id]", with: "required: [email]"),
             line: 9, column: 9, message: "pipeline 'qb': target 'contacts' needs 'external_id', which no map entry fills", hint: nil),
        Case(name: "normalizer on the wrong kind of field", yaml: replacing("{ email: email,", with: "{ email: e164,"),
             line: 14, column: 29, message: "normalizer 'e164' does not apply to 'email', a email field", hint: "'e164' applies to phone fields"),
        Case(name: "unknown normalizer", yaml: replacing("phone: { e164:", with: "phone: { e165:"),
             line: 14, column: 45, message: "unknown normalizer 'e165' for 'phone'", hint: "did you mean 'e164'?"),
        Case(name: "validated field that nothing fills", yaml: replacing("required: [external_id]", with: "required: [external_id, display_name]"),
             line: 15, column: 45, message: "'display_name' is required but no map entry fills it", hint: nil),
        Case(name: "bad duration", yaml: replacing("page_size: 200", with: "retry: { initial_backoff: 2 seconds }"),
             line: 3, column: 29, message: "initial_backoff must be a duration like 2s, 500ms, 10m or 1h, found '2 seconds'", hint: nil),
        Case(name: "unsupported version", yaml: replacing("version: 1", with: "version: 2"),
             line: 1, column: 10, message: "unsupported version 2", hint: "this release reads version 1"),
        Case(name: "unknown format", yaml: replacing("email: email }", with: "email: emale }"),
             line: 15, column: 53, message: "unknown format 'emale' for 'email'", hint: "did you mean 'email'?"),
        Case(name: "region that is not a country code", yaml: replacing("default_region: US", with: "default_region: USA"),
             line: 14, column: 69, message: "default_region must be an ISO 3166-1 alpha-2 country code like US or DE, found 'USA'", hint: nil),
        Case(name: "both integration and provider",
             yaml: replacing("{ integration: quickbooks, model: Customer }", with: "{ integration: quickbooks, provider: quickbooks, model: Customer }"),
             line: 6, column: 50, message: "'source' of pipeline 'qb' has both 'integration' and 'provider'; keep one",
             hint: "'provider' matches every integration key of that provider"),
        Case(name: "neither integration nor provider", yaml: replacing("{ integration: quickbooks, model: Customer }", with: "{ model: Customer }"),
             line: 6, column: 13, message: "'source' of pipeline 'qb' needs 'integration' (Nango's provider config key, e.g. hubspot-prod) or 'provider' (e.g. hubspot)", hint: nil),
        Case(name: "full resync too often", yaml: replacing("{ integration: quickbooks, model: Customer }", with: "{ integration: quickbooks, model: Customer, full_resync: 5m }"),
             line: 6, column: 70, message: "full_resync must be off or an interval like 12h, 7d or 2w (at least 1h), found '5m'", hint: nil),
        Case(name: "an alias (a billion-laughs bomb needs them)", yaml: "version: 1\nlol: &a [x, x, x, x]\nlol2: &b [*a, *a, *a, *a]\npipelines: []\n",
             line: 3, column: 11, message: "YAML aliases (*name) are not allowed in the pipelines file", hint: "write the value out where it is used"),
        Case(name: "invalid YAML", yaml: replacing("    target: contacts", with: "    target: [contacts"),
             line: 8, column: 11, message: "invalid YAML", hint: nil),
    ]

    @Test(arguments: cases)
    func brokenFilesPointAtTheLine(_ fixture: Case) {
        let found = Self.diagnostics(fixture.yaml)
        let match = found.first { $0.message.hasPrefix(fixture.message) }
        #expect(match != nil, "expected '\(fixture.message)', got:\n\(found.map(\.description).joined(separator: "\n"))")
        guard let match else { return }
        #expect(match.line == fixture.line && match.column == fixture.column, "at \(match.line):\(match.column): \(match.description)")
        if let hint = fixture.hint { #expect(match.hint == hint) }
        #expect(match.description.hasPrefix("broken.yaml:\(match.line):\(match.column): "))
    }

    @Test func duplicatePipelineNamesAreReportedWithTheFirstLine() {
        let yaml = Self.valid + "\n" + Self.valid.components(separatedBy: "pipelines:\n")[1]
        let found = Self.diagnostics(yaml)
        let duplicate = found.first { $0.message == "duplicate pipeline name 'qb'" }
        #expect(duplicate?.line == 16)
        #expect(duplicate?.hint == "first defined on line 5")
    }

    @Test func everyErrorIsReportedNotOnlyTheFirst() {
        let yaml = Self.replacing("defaults:", with: "defualts:").replacingOccurrences(of: "target: contacts", with: "target: contact")
            .replacingOccurrences(of: "- normalize:", with: "- normalise:")
        let found = Self.diagnostics(yaml)
        #expect(found.count >= 3)
        #expect(found.map(\.line) == found.map(\.line).sorted())
    }

    @Test func aSourceMatchesByProviderAndMayResyncOnASchedule() throws {
        let yaml = Self.replacing("{ integration: quickbooks, model: Customer }", with: "{ provider: quickbooks, model: Customer, full_resync: 7d }")
        let source = try #require(try PipelineLoader.parse(yaml: yaml, path: "ok.yaml").pipelines.first?.source)
        #expect(source.provider == "quickbooks" && source.integration == nil)
        #expect(source.fullResync == .seconds(7 * 86_400))
        #expect(source.matches(integration: "qbo-eu", provider: "quickbooks"))
        #expect(!source.matches(integration: "quickbooks", provider: "xero"))
        let off = Self.replacing("{ integration: quickbooks, model: Customer }", with: "{ integration: quickbooks, model: Customer, full_resync: off }")
        #expect(try PipelineLoader.parse(yaml: off, path: "ok.yaml").pipelines.first?.source.fullResync == nil)
        #expect(try PipelineLoader.parse(yaml: Self.valid, path: "ok.yaml").pipelines.first?.source.fullResync == nil, "off by default")
    }

    @Test func anEmptyFileIsAnError() {
        #expect(Self.diagnostics("").first?.message == "the pipelines file is empty")
        #expect(Self.diagnostics("pipelines: []\n").contains { $0.message == "missing 'version'" })
    }
}
