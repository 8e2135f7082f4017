import Storage
import Crypto
import Foundation
import MarketplaceCore
import Yams

/// Reads `pipelines.yaml` and checks all of it: every problem is reported, with its line and column.
public enum PipelineLoader {
    public static func load(path: String) throws(PipelineFileErrors) -> PipelineSet {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PipelineFileErrors(diagnostics: [
                PipelineDiagnostic(file: path, line: 1, column: 1, message: "cannot read the pipelines file: \(error.localizedDescription)", hint: nil),
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineFileErrors(diagnostics: [
                PipelineDiagnostic(file: path, line: 1, column: 1, message: "the pipelines file is not UTF-8 text", hint: nil),
            ])
        }
        return try parse(yaml: text, path: path)
    }

    public static func parse(yaml: String, path: String) throws(PipelineFileErrors) -> PipelineSet {
        var checker = PipelineChecker(file: path)
        if let alias = firstAlias(in: yaml) {
            // Expanding aliases is unbounded (a "billion laughs" stalls the checker), and a hand-edited file never needs one.
            throw PipelineFileErrors(diagnostics: [PipelineDiagnostic(
                file: path, line: alias.line, column: alias.column, message: "YAML aliases (*name) are not allowed in the pipelines file",
                hint: "write the value out where it is used")])
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw PipelineFileErrors(diagnostics: [checker.syntaxDiagnostic(error)])
        }
        guard let root else {
            throw PipelineFileErrors(diagnostics: [
                PipelineDiagnostic(file: path, line: 1, column: 1, message: "the pipelines file is empty", hint: "it needs 'version: 1' and a 'pipelines' list"),
            ])
        }
        let hash = Hex.encode(SHA256.hash(data: Data(yaml.utf8)))
        let set = checker.checkFile(root, hash: hash)
        if let set, checker.diagnostics.isEmpty { return set }
        throw PipelineFileErrors(diagnostics: checker.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
    }
}

extension PipelineLoader {
    /// Where the first alias (`*name` as a token, outside quotes and comments) stands, 1-based.
    static func firstAlias(in yaml: String) -> (line: Int, column: Int)? {
        for (index, line) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var quote: Character?
            var previous: Character = " "
            for (offset, character) in line.enumerated() {
                if let open = quote {
                    if character == open { quote = nil }
                } else if character == "'" || character == "\"" {
                    quote = character
                } else if character == "#", previous == " " || offset == 0 {
                    break
                } else if character == "*", " \t[{,:-".contains(previous) || offset == 0 {
                    return (index + 1, offset + 1)
                }
                previous = character
            }
        }
        return nil
    }
}

/// The checks, collecting diagnostics as it walks the document.
struct PipelineChecker {
    let file: String
    var diagnostics: [PipelineDiagnostic] = []

    static let topKeys = ["version", "defaults", "pipelines"]
    static let defaultsKeys = ["page_size", "retry", "default_region"]
    static let retryKeys = ["max_attempts", "initial_backoff", "max_backoff"]
    static let pipelineKeys = ["name", "source", "target", "stages", "enabled", "page_size", "retry", "default_region"]
    static let sourceKeys = ["integration", "provider", "model", "full_resync"]
    static let stageNames = ["map", "normalize", "validate", "dedupe"]
    static let normalizerNames = ["trim", "email", "e164", "iso3166_alpha2", "iso4217", "money", "timestamp", "lowercase", "uppercase"]
    static let ruleKeys = ["format", "one_of", "min", "max", "min_length", "max_length"]

    init(file: String) { self.file = file }

    // MARK: Reporting

    mutating func error(_ node: Node?, _ message: String, hint: String? = nil, columnOffset: Int = 0) {
        let mark = node?.mark
        diagnostics.append(PipelineDiagnostic(
            file: file, line: mark?.line ?? 1, column: (mark?.column ?? 1) + columnOffset, message: message, hint: hint))
    }

    func syntaxDiagnostic(_ error: any Error) -> PipelineDiagnostic {
        guard let yamlError = error as? YamlError else {
            return PipelineDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)", hint: nil)
        }
        switch yamlError {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return PipelineDiagnostic(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)", hint: nil)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return PipelineDiagnostic(
                file: file, line: context.mark.line, column: context.mark.column,
                message: "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in this mapping", hint: "each key may appear once")
        default:
            return PipelineDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(yamlError)", hint: nil)
        }
    }
}
