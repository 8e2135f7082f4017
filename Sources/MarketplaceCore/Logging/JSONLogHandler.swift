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
        // One line per request under load: its fields are gathered in an array and written as bytes in one pass,
        // with no merged dictionary and no intermediate strings.
        var fields: [Field] = []
        fields.reserveCapacity(metadata.count + (event.metadata?.count ?? 0) + 2)
        for (key, value) in metadata { fields.append(Field(key: key, rank: 0, value: value)) }
        if let provided = metadataProvider?.get() {
            for (key, value) in provided { fields.append(Field(key: key, rank: 1, value: value)) }
        }
        if let extra = event.metadata {
            for (key, value) in extra { fields.append(Field(key: key, rank: 2, value: value)) }
        }
        var line: [UInt8] = []
        line.reserveCapacity(384)
        Self.write(timestamp: nil, level: event.level, label: label, message: event.message.description, fields: &fields, into: &line)
        LogOutput.standardOutput.append(line)
    }

    /// One metadata entry and where it came from: the event's own overrides the provider's, which overrides the handler's.
    struct Field {
        let key: String
        let rank: Int
        let value: Logger.MetadataValue
    }

    /// The JSON line for one event (ending in a newline). Keys after the fixed four are sorted.
    public static func render(
        timestamp: String, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata
    ) -> String {
        var fields = metadata.map { Field(key: $0.key, rank: 0, value: $0.value) }
        var line: [UInt8] = []
        write(timestamp: timestamp, level: level, label: label, message: message, fields: &fields, into: &line)
        return String(decoding: line, as: UTF8.self)
    }

    /// `timestamp` nil: now.
    static func write(
        timestamp: String?, level: Logger.Level, label: String, message: String, fields: inout [Field], into line: inout [UInt8]
    ) {
        line.append(contentsOf: #"{"timestamp":""#.utf8)
        if let timestamp { line.append(contentsOf: timestamp.utf8) } else { appendTimestamp(to: &line) }
        line.append(contentsOf: #"","level":""#.utf8)
        line.append(contentsOf: level.rawValue.utf8)
        line.append(contentsOf: #"","label":"#.utf8)
        appendString(label, to: &line)
        line.append(contentsOf: #","message":"#.utf8)
        appendString(message, to: &line)
        fields.sort { $0.key == $1.key ? $0.rank < $1.rank : $0.key < $1.key }
        for (index, field) in fields.enumerated() {
            // Of one key, the highest rank wins: it sorts last.
            if index + 1 < fields.count, fields[index + 1].key == field.key { continue }
            switch field.key {
            case "timestamp", "level", "label", "message": continue
            default: break
            }
            line.append(UInt8(ascii: ","))
            // Hummingbird keeps the request id under its own key; logs call it request_id.
            appendString(field.key == "hb.request.id" ? "request_id" : field.key, to: &line)
            line.append(UInt8(ascii: ":"))
            appendValue(field.value, to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
    }

    private static func appendValue(_ value: Logger.MetadataValue, to output: inout [UInt8]) {
        switch value {
        case .string(let string): appendString(string, to: &output)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &output)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                appendValue(element, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            output.append(UInt8(ascii: "{"))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                appendString(key, to: &output)
                output.append(UInt8(ascii: ":"))
                appendValue(dictionary[key]!, to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as its UTF-8 bytes.
    static func appendString(_ string: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            var start = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): output.append(contentsOf: #"\\"#.utf8)
                case UInt8(ascii: "\n"): output.append(contentsOf: #"\n"#.utf8)
                case UInt8(ascii: "\r"): output.append(contentsOf: #"\r"#.utf8)
                case UInt8(ascii: "\t"): output.append(contentsOf: #"\t"#.utf8)
                default:
                    output.append(contentsOf: #"\u00"#.utf8)
                    output.append(Hex.digits[Int(byte >> 4)])
                    output.append(Hex.digits[Int(byte & 0x0F)])
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        output.append(UInt8(ascii: "\""))
    }

    /// UTC, millisecond precision, RFC 3339.
    public static func timestamp() -> String {
        var text: [UInt8] = []
        appendTimestamp(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    static func appendTimestamp(to output: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        UTCTimestamp.append(seconds: Int(now.tv_sec), fraction: Int(now.tv_nsec / 1_000_000), fractionDigits: 3, to: &output)
    }
}
