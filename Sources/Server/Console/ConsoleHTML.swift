import Foundation
import MarketplaceCore

/// Markup the console builds in code (the templates escape everything else): every piece of text that goes in
/// passes through `escape`.
enum ConsoleHTML {
    static func escape(_ text: String) -> String {
        var output = ""
        output.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&#39;"
            default: output.append(character)
            }
        }
        return output
    }

    /// JSON text indented two spaces a level, keys sorted; the lines whose key is in `marked`
    /// are wrapped in `<mark>` (a quarantined record's offending fields). Text that is not JSON comes back as it is.
    static func prettyJSON(_ text: String, marked: Set<String> = []) -> String {
        guard let value = try? JSONValue.parse(text.utf8) else { return escape(text) }
        var lines: [String] = []
        write(value, key: nil, indent: 0, trailingComma: false, marked: marked, into: &lines)
        return lines.joined(separator: "\n")
    }

    private static func write(_ value: JSONValue, key: String?, indent: Int, trailingComma: Bool, marked: Set<String>, into lines: inout [String]) {
        let pad = String(repeating: "  ", count: indent)
        let prefix = pad + (key.map { escape(quoted($0)) + ": " } ?? "")
        let comma = trailingComma ? "," : ""
        func line(_ text: String) -> String {
            guard let key, marked.contains(key) else { return text }
            return "<mark>" + text + "</mark>"
        }
        switch value {
        case .object(let object) where !object.isEmpty:
            lines.append(line(prefix + "{"))
            let keys = orderedKeys(object)
            for (index, childKey) in keys.enumerated() {
                write(object[childKey]!, key: childKey, indent: indent + 1, trailingComma: index < keys.count - 1, marked: marked, into: &lines)
            }
            lines.append(pad + "}" + comma)
        case .array(let items) where !items.isEmpty:
            lines.append(line(prefix + "["))
            for (index, item) in items.enumerated() {
                write(item, key: nil, indent: indent + 1, trailingComma: index < items.count - 1, marked: marked, into: &lines)
            }
            lines.append(pad + "]" + comma)
        default:
            lines.append(line(prefix + escape(value.jsonText) + comma))
        }
    }

    /// JSONValue keeps objects as dictionaries: keys sorted so the same body always reads the same.
    private static func orderedKeys(_ object: [String: JSONValue]) -> [String] { object.keys.sorted() }

    private static func quoted(_ text: String) -> String {
        var output = ""
        JSONValue.writeString(text, to: &output)
        return output
    }
}
