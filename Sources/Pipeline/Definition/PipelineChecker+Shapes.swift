import Storage
import Foundation
import MarketplaceCore
import Yams

/// The YAML shapes a check reads: mappings, scalars of each type, durations, regions; each reports what it refuses.
extension PipelineChecker {
    /// The pairs of a mapping whose keys are plain strings; reports anything else.
    mutating func pairs(_ node: Node, _ what: String) -> [(key: String, keyNode: Node, value: Node)]? {
        guard let mapping = node.mapping else {
            error(node, "\(what) must be a mapping, found \(kind(node))")
            return nil
        }
        var result: [(String, Node, Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                error(key, "keys of \(what) must be plain names")
                continue
            }
            result.append((name, key, value))
        }
        return result
    }

    mutating func checkKeys(_ pairs: [(key: String, keyNode: Node, value: Node)], allowed: [String], in what: String) {
        for pair in pairs where !allowed.contains(pair.key) {
            error(pair.keyNode, "unknown key '\(pair.key)' in \(what)", hint: Spelling.hint(for: pair.key, among: allowed))
        }
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let scalar): return scalar.string.isEmpty ? "nothing" : "'\(scalar.string)'"
        case .alias: return "an alias"
        }
    }

    mutating func string(_ node: Node, _ what: String) -> String? {
        guard case .scalar(let scalar) = node, node.null == nil || scalar.style != .plain else {
            error(node, "\(what) must be a string, found \(kind(node))")
            return nil
        }
        guard !scalar.string.trimmedWhitespace.isEmpty else {
            error(node, "\(what) must not be empty")
            return nil
        }
        return scalar.string
    }

    mutating func integer(_ node: Node, _ what: String, range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = node.int else {
            error(node, "\(what) must be a whole number, found \(kind(node))")
            return nil
        }
        guard range.contains(value) else {
            error(node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    mutating func boolean(_ node: Node, _ what: String) -> Bool? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = node.bool else {
            error(node, "\(what) must be true or false, found \(kind(node))")
            return nil
        }
        return value
    }

    mutating func number(_ node: Node, _ what: String) -> Double? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = node.float else {
            error(node, "\(what) must be a number, found \(kind(node))")
            return nil
        }
        return value
    }

    /// `500ms`, `2s`, `10m`, `1h`.
    mutating func duration(_ node: Node, _ what: String) -> Duration? {
        guard let text = node.scalar?.string else {
            error(node, "\(what) must be a duration like 2s, 500ms, 10m or 1h, found \(kind(node))")
            return nil
        }
        let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        for (unit, milliseconds) in units where text.hasSuffix(unit) {
            if let value = Int64(text.dropLast(unit.count)), value > 0 { return .milliseconds(value * milliseconds) }
        }
        error(node, "\(what) must be a duration like 2s, 500ms, 10m or 1h, found '\(text)'")
        return nil
    }

    /// A full resync interval: `off`, or hours/days/weeks (`12h`, `7d`, `2w`), at least an hour.
    mutating func resyncInterval(_ node: Node, _ what: String) -> Duration? {
        let hint = "\(what) must be off or an interval like 12h, 7d or 2w (at least 1h)"
        guard let text = node.scalar?.string else {
            error(node, "\(hint), found \(kind(node))")
            return nil
        }
        let units: [(String, Int64)] = [("h", 3_600), ("d", 86_400), ("w", 604_800)]
        for (unit, seconds) in units where text.hasSuffix(unit) {
            if let value = Int64(text.dropLast(unit.count)), value > 0, value <= 520 * 604_800 / seconds { return .seconds(value * seconds) }
        }
        error(node, "\(hint), found '\(text)'")
        return nil
    }

    mutating func region(_ node: Node, _ what: String) -> String? {
        guard let text = string(node, what) else { return nil }
        guard let code = CountryCodes.alpha2(text), code == text.uppercased() else {
            error(node, "\(what) must be an ISO 3166-1 alpha-2 country code like US or DE, found '\(text)'")
            return nil
        }
        return code
    }
}
