/// A configuration value that must never reach a log line or a response unmasked.
///
/// `description` and `debugDescription` are masked, so string interpolation of a `Secret`
/// (or of a struct holding one) is safe; code that needs the value reads ``value`` explicitly.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String

    public init(_ value: String) {
        self.value = value
    }

    /// `••••` plus the length: enough to tell "set" from "empty" and spot a truncated paste.
    public var masked: String {
        value.isEmpty ? "(empty)" : "•••• (\(value.utf8.count) bytes)"
    }

    public var description: String { masked }
    public var debugDescription: String { "Secret(\(masked))" }
}
