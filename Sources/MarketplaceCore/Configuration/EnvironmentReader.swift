/// Reads typed values from an environment dictionary, collecting a problem per bad variable
/// instead of stopping at the first, so one start-up reports everything that is wrong.
public struct EnvironmentReader: Sendable {
    public let values: [String: String]
    public private(set) var problems: [ConfigurationError.Problem] = []

    public init(_ values: [String: String]) {
        self.values = values
    }

    /// The trimmed value, or nil when the variable is unset or blank.
    public func raw(_ name: String) -> String? {
        guard let value = values[name] else { return nil }
        let trimmed = Substring(value).trimmingWhitespace()
        return trimmed.isEmpty ? nil : String(trimmed)
    }

    public mutating func fail(_ name: String, _ message: String) {
        problems.append(.init(variable: name, message: message))
    }

    public func string(_ name: String, default defaultValue: String) -> String {
        raw(name) ?? defaultValue
    }

    public mutating func required(_ name: String, _ hint: String) -> String? {
        guard let value = raw(name) else {
            fail(name, "required but not set (\(hint))")
            return nil
        }
        return value
    }

    public mutating func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) -> Int {
        guard let text = raw(name) else { return defaultValue }
        guard let value = Int(text) else {
            fail(name, "'\(text)' is not a whole number")
            return defaultValue
        }
        guard range.contains(value) else {
            fail(name, "\(value) is out of range (\(range.lowerBound)–\(range.upperBound))")
            return defaultValue
        }
        return value
    }

    public mutating func port(_ name: String, default defaultValue: Int) -> Int {
        guard let text = raw(name) else { return defaultValue }
        guard let value = Int(text), (1...65535).contains(value) else {
            fail(name, "'\(text)' is not a port number (1–65535)")
            return defaultValue
        }
        return value
    }

    public mutating func seconds(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) -> Duration {
        .seconds(integer(name, default: defaultValue, in: range))
    }

    public mutating func bool(_ name: String, default defaultValue: Bool) -> Bool {
        guard let text = raw(name) else { return defaultValue }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default:
            fail(name, "'\(text)' is not a boolean (true/false, 1/0, yes/no, on/off)")
            return defaultValue
        }
    }

    public mutating func choice<Value>(_ name: String, default defaultValue: Value, _ options: [String: Value]) -> Value {
        guard let text = raw(name) else { return defaultValue }
        guard let value = options[text.lowercased()] else {
            fail(name, "'\(text)' is not one of \(options.keys.sorted().joined(separator: ", "))")
            return defaultValue
        }
        return value
    }
}
