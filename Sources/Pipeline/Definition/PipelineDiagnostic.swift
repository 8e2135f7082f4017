/// One problem in `pipelines.yaml`, where an editor can jump to it.
public struct PipelineDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var hint: String?

    /// `FILE:LINE:COLUMN: message (hint)`, the shape compilers print and editors understand.
    public var description: String {
        "\(file):\(line):\(column): \(message)" + (hint.map { " (\($0))" } ?? "")
    }
}

/// Every problem found in a pipelines file: it is used only when there are none.
public struct PipelineFileErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [PipelineDiagnostic]

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Close spellings, for "did you mean" hints.
enum Spelling {
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// "did you mean 'x'?" for the closest candidate within a third of the word, else the allowed values.
    static func hint(for word: String, among candidates: [String], listAllowed: Bool = true) -> String? {
        let scored = candidates.map { ($0, distance(word, $0)) }.sorted { $0.1 < $1.1 }
        if let best = scored.first, best.1 <= max(2, word.count / 3) {
            return "did you mean '\(best.0)'?"
        }
        guard listAllowed, !candidates.isEmpty else { return nil }
        return "allowed: " + candidates.joined(separator: ", ")
    }
}
