import Foundation

/// Splits a SQL file into statements. postgres-nio speaks only the extended protocol, which takes one
/// statement per query, so a migration file is sent statement by statement.
///
/// Semicolons inside quotes (`'…'`, `E'…'`, `"…"`), dollar-quoted bodies (`$$…$$`, `$tag$…$tag$`) and
/// comments (`-- …`, nested `/* … */`) do not split. Statements that are only comments are dropped.
public enum SQLScript {
    public static func statements(in script: String) -> [String] {
        let characters = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var hasCode = false
        var index = 0

        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if hasCode, !text.isEmpty { statements.append(text) }
            current = String.UnicodeScalarView()
            hasCode = false
        }
        func copy(to end: Int) {
            current.append(contentsOf: characters[index..<min(end, characters.count)])
            index = min(end, characters.count)
        }

        while index < characters.count {
            let character = characters[index]
            let next: Unicode.Scalar? = index + 1 < characters.count ? characters[index + 1] : nil
            switch character {
            case "-" where next == "-":
                copy(to: (characters[index...].firstIndex(of: "\n") ?? characters.count))
            case "/" where next == "*":
                var depth = 0
                var end = index
                while end < characters.count {
                    if characters[end] == "/", end + 1 < characters.count, characters[end + 1] == "*" {
                        depth += 1; end += 2
                    } else if characters[end] == "*", end + 1 < characters.count, characters[end + 1] == "/" {
                        depth -= 1; end += 2
                        if depth == 0 { break }
                    } else {
                        end += 1
                    }
                }
                copy(to: end)
            case "'", "\"":
                let escapes = character == "'" && index > 0 && (characters[index - 1] == "E" || characters[index - 1] == "e")
                var end = index + 1
                while end < characters.count {
                    if escapes, characters[end] == "\\" { end += 2; continue }
                    if characters[end] == character {
                        // A doubled quote is an escaped quote, not the end.
                        if end + 1 < characters.count, characters[end + 1] == character { end += 2; continue }
                        break
                    }
                    end += 1
                }
                hasCode = true
                copy(to: end + 1)
            case "$":
                if let tag = dollarTag(in: characters, at: index),
                    let close = find(tag, in: characters, from: index + tag.count)
                {
                    hasCode = true
                    copy(to: close + tag.count)
                } else {
                    hasCode = true
                    copy(to: index + 1)
                }
            case ";":
                index += 1
                flush()
            default:
                if !character.properties.isWhitespace { hasCode = true }
                copy(to: index + 1)
            }
        }
        flush()
        return statements
    }

    /// `$tag$` or `$$` starting at `index`, or nil for a positional parameter such as `$1`.
    private static func dollarTag(in characters: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        var end = index + 1
        while end < characters.count, characters[end] != "$" {
            let scalar = characters[end]
            let isTagCharacter = scalar == "_" || scalar.properties.isAlphabetic || (end > index + 1 && ("0"..."9").contains(scalar))
            guard isTagCharacter else { return nil }
            end += 1
        }
        guard end < characters.count else { return nil }
        return Array(characters[index...end])
    }

    private static func find(_ tag: [Unicode.Scalar], in characters: [Unicode.Scalar], from start: Int) -> Int? {
        var index = start
        while index + tag.count <= characters.count {
            if characters[index] == tag[0], Array(characters[index..<index + tag.count]) == tag { return index }
            index += 1
        }
        return nil
    }
}
