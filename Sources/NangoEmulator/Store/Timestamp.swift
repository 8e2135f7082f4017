import Foundation

/// Microseconds since 1970, the precision of Nango's Postgres timestamps.
struct Timestamp: Sendable, Hashable, Comparable {
    var micros: Int64

    static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.micros < rhs.micros }

    static var now: Timestamp { Timestamp(micros: Int64(Date().timeIntervalSince1970 * 1_000_000)) }

    var date: Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    /// Postgres `to_json(timestamptz)` in UTC: microseconds with trailing zeros dropped, `+00:00`.
    var postgres: String {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        var text = Date(timeIntervalSince1970: Double(seconds)).formatted(.iso8601).replacingOccurrences(of: "Z", with: "")
        if fraction > 0 {
            var digits = String(format: "%06lld", fraction)
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text + "+00:00"
    }

    /// `toISOString()`: milliseconds and `Z`.
    var javascript: String {
        Date(timeIntervalSince1970: Double(micros / 1000) / 1000).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)` to the microsecond.
    init?(parsing text: String) {
        guard text.count >= 20 else { return nil }
        var main = Substring(text)
        var offsetSeconds = 0
        if main.hasSuffix("Z") {
            main = main.dropLast()
        } else if let sign = main.lastIndex(where: { $0 == "+" || $0 == "-" }), main.distance(from: sign, to: main.endIndex) == 6 {
            let parts = main[main.index(after: sign)...].split(separator: ":")
            guard parts.count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]) else { return nil }
            offsetSeconds = (hours * 3600 + minutes * 60) * (main[sign] == "-" ? -1 : 1)
            main = main[..<sign]
        } else {
            return nil
        }
        var fractionMicros: Int64 = 0
        if let dot = main.firstIndex(of: ".") {
            let digits = main[main.index(after: dot)...]
            guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy(\.isNumber) else { return nil }
            fractionMicros = Int64(digits + String(repeating: "0", count: 6 - digits.count))!
            main = main[..<dot]
        }
        guard main.count == 19, let whole = try? Date(String(main) + "Z", strategy: .iso8601) else { return nil }
        self.micros = (Int64(whole.timeIntervalSince1970) - Int64(offsetSeconds)) * 1_000_000 + fractionMicros
    }

    init(micros: Int64) { self.micros = micros }
}

/// A position in a change stream: `(updated_at, internal uuid)`. Serialised as Nango's cursor,
/// `base64("<updated_at with offset>||<uuid>")`.
struct StreamPosition: Sendable, Hashable, Comparable {
    var updated: Timestamp
    var uuid: String

    static func < (lhs: StreamPosition, rhs: StreamPosition) -> Bool {
        (lhs.updated, lhs.uuid) < (rhs.updated, rhs.uuid)
    }

    var cursor: String { Data("\(updated.postgres)||\(uuid)".utf8).base64EncodedString() }

    init(updated: Timestamp, uuid: String) {
        self.updated = updated
        self.uuid = uuid
    }

    init?(cursor: String) {
        guard let data = Data(base64Encoded: cursor), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.components(separatedBy: "||")
        guard parts.count == 2, let updated = Timestamp(parsing: parts[0]), UUID(uuidString: parts[1]) != nil else { return nil }
        self.updated = updated
        self.uuid = parts[1].lowercased()
    }
}
