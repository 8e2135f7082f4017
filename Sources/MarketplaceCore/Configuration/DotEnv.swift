/// Parses the `.env` format: `KEY=VALUE` lines, `#` comments, an optional `export ` prefix,
/// single-quoted values taken literally, double-quoted values with `\n`, `\t`, `\"` and `\\` escapes.
public enum DotEnv {
    /// A line that is not `KEY=VALUE`.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { ".env:\(line): \(message)" }

        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }
    }

    public static func parse(_ text: String) throws(SyntaxError) -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst("export ".count).trimmingWhitespace() }
            guard let equals = line.firstIndex(of: "=") else {
                throw SyntaxError(line: index + 1, message: "expected KEY=VALUE")
            }
            let key = line[..<equals].trimmingWhitespace()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), key.first?.isNumber == false
            else {
                throw SyntaxError(line: index + 1, message: "'\(key)' is not a variable name")
            }
            values[String(key)] = try parseValue(line[line.index(after: equals)...].trimmingWhitespace(), line: index + 1)
        }
        return values
    }

    private static func parseValue(_ raw: Substring, line: Int) throws(SyntaxError) -> String {
        guard let quote = raw.first, quote == "\"" || quote == "'" else {
            // Unquoted: an inline comment starts at " #".
            var previous: Character?
            for index in raw.indices {
                if raw[index] == "#", previous?.isWhitespace == true { return String(raw[..<index].trimmingWhitespace()) }
                previous = raw[index]
            }
            return String(raw)
        }
        var result = ""
        var index = raw.index(after: raw.startIndex)
        while index < raw.endIndex {
            let character = raw[index]
            if character == quote { return result }
            if quote == "\"", character == "\\", raw.index(after: index) < raw.endIndex {
                index = raw.index(after: index)
                switch raw[index] {
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "r": result.append("\r")
                default: result.append(raw[index])
                }
            } else {
                result.append(character)
            }
            index = raw.index(after: index)
        }
        throw SyntaxError(line: line, message: "missing closing \(quote)")
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first.isWhitespace { result = result.dropFirst() }
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return result
    }
}
