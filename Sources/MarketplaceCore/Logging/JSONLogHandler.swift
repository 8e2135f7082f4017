#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// Writes one JSON object per line to standard output: `timestamp`, `level`, `label`, `message`,
/// then the metadata as top-level fields. Request ids arrive as metadata and so land on every line.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let line = Self.render(
            timestamp: Self.timestamp(), level: event.level, label: label, message: event.message.description, metadata: merged
        )
        LogOutput.standardOutput.append(line)
    }

    /// The JSON line for one event (ending in a newline). Keys after the fixed four are sorted.
    public static func render(
        timestamp: String, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata
    ) -> String {
        var output = ""
        output.reserveCapacity(320)
        output += "{\"timestamp\":\"\(timestamp)\",\"level\":\"\(level.rawValue)\",\"label\":"
        appendString(label, to: &output)
        output += ",\"message\":"
        appendString(message, to: &output)
        for key in metadata.keys.sorted() {
            switch key {
            case "timestamp", "level", "label", "message": continue
            default: break
            }
            output += ","
            // Hummingbird keeps the request id under its own key; logs call it request_id.
            appendString(key == "hb.request.id" ? "request_id" : key, to: &output)
            output += ":"
            appendValue(metadata[key]!, to: &output)
        }
        output += "}\n"
        return output
    }

    private static func appendValue(_ value: Logger.MetadataValue, to output: inout String) {
        switch value {
        case .string(let string): appendString(string, to: &output)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &output)
        case .array(let values):
            output += "["
            for (index, element) in values.enumerated() {
                if index > 0 { output += "," }
                appendValue(element, to: &output)
            }
            output += "]"
        case .dictionary(let dictionary):
            output += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                appendString(key, to: &output)
                output += ":"
                appendValue(dictionary[key]!, to: &output)
            }
            output += "}"
        }
    }

    static func appendString(_ string: String, to output: inout String) {
        JSONValue.writeString(string, to: &output)
    }

    /// UTC, millisecond precision, RFC 3339.
    public static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        let millis = Int(now.tv_nsec / 1_000_000)
        // Digits written into a fixed buffer: this runs once per log line.
        var text = Array("0000-00-00T00:00:00.000Z".utf8)
        func put(_ value: Int, digits: Int, endingAt end: Int) {
            var value = value
            for index in stride(from: end, to: end - digits, by: -1) {
                text[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(Int(parts.tm_year) + 1900, digits: 4, endingAt: 3)
        put(Int(parts.tm_mon) + 1, digits: 2, endingAt: 6)
        put(Int(parts.tm_mday), digits: 2, endingAt: 9)
        put(Int(parts.tm_hour), digits: 2, endingAt: 12)
        put(Int(parts.tm_min), digits: 2, endingAt: 15)
        put(Int(parts.tm_sec), digits: 2, endingAt: 18)
        put(millis, digits: 3, endingAt: 22)
        return String(decoding: text, as: UTF8.self)
    }
}
