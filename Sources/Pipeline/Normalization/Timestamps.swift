import MarketplaceCore
import Foundation

/// ISO 8601 timestamps as providers write them, to UTC: offsets with or without a colon (`-07:00`,
/// `+0000`), `Z`, fractions of any length, date-only values, and epoch seconds or milliseconds.
public enum Timestamps {
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        var i = 0
        func digits(_ count: Int) -> Int? {
            guard i + count <= bytes.count else { return nil }
            var value = 0
            for k in 0..<count {
                let b = bytes[i + k]
                guard b >= 48, b <= 57 else { return nil }
                value = value * 10 + Int(b - 48)
            }
            i += count
            return value
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < bytes.count, bytes[i] == c else { return false }
            i += 1
            return true
        }
        if !bytes.isEmpty, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }), let epoch = Double(text) {
            // 13 digits and more are milliseconds.
            return Date(timeIntervalSince1970: bytes.count >= 13 ? epoch / 1000 : epoch)
        }
        guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0
        var fraction = 0.0
        var offset = 0
        if i < bytes.count {
            guard bytes[i] == 84 || bytes[i] == 32 || bytes[i] == 116 else { return nil }   // T, space, t
            i += 1
            guard let h = digits(2), expect(58), let m = digits(2) else { return nil }
            hour = h
            minute = m
            if expect(58) {
                guard let s = digits(2) else { return nil }
                second = s
                if i < bytes.count, bytes[i] == 46 || bytes[i] == 44 {
                    i += 1
                    var scale = 0.1
                    let start = i
                    while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                        fraction += Double(bytes[i] - 48) * scale
                        scale /= 10
                        i += 1
                    }
                    guard i > start else { return nil }
                }
            }
            guard hour < 24, minute < 60, second < 61 else { return nil }
            if i < bytes.count {
                switch bytes[i] {
                case 90, 122: i += 1   // Z
                case 43, 45:
                    let sign = bytes[i] == 45 ? -1 : 1
                    i += 1
                    guard let oh = digits(2) else { return nil }
                    _ = expect(58)
                    let om = digits(2) ?? 0
                    offset = sign * (oh * 3600 + om * 60)
                default: return nil
                }
            }
            guard i == bytes.count else { return nil }
        }
        // Days from the civil date (Howard Hinnant's algorithm): no Calendar, no allocation.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    /// UTC, milliseconds, `Z`: the form the database and the API use.
    /// ISO 8601 in UTC with microseconds, rounded to the nearest: Postgres keeps microseconds, and a time read
    /// back from it must format to the very same value (truncating to milliseconds made a stored time look
    /// older than itself, and a re-derived row lose to its own version).
    public static func format(_ date: Date) -> String {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        let seconds = (micros / 1_000_000).rounded(.down)
        let fraction = Int(micros - seconds * 1_000_000)
        return UTCTimestamp.string(seconds: Int(seconds), fraction: fraction, fractionDigits: 6)
    }
}
