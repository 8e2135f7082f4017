#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// RFC 3339 times in UTC, `2026-01-02T03:04:05.678Z`, written digit by digit from `gmtime_r`: they are formatted once
/// per log line and once per synced record, where Foundation's formatters cost more than the rest of the work.
public enum UTCTimestamp {
    /// `seconds` since 1970, then `.` and `fraction` in `fractionDigits` digits, then `Z`.
    public static func append(seconds: Int, fraction: Int, fractionDigits: Int, to output: inout [UInt8]) {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func put(_ value: Int, _ digits: Int) {
            var divisor = 1
            for _ in 1..<digits { divisor *= 10 }
            var value = value
            while divisor > 0 {
                output.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                value %= divisor
                divisor /= 10
            }
        }
        put(Int(parts.tm_year) + 1900, 4)
        output.append(UInt8(ascii: "-"))
        put(Int(parts.tm_mon) + 1, 2)
        output.append(UInt8(ascii: "-"))
        put(Int(parts.tm_mday), 2)
        output.append(UInt8(ascii: "T"))
        put(Int(parts.tm_hour), 2)
        output.append(UInt8(ascii: ":"))
        put(Int(parts.tm_min), 2)
        output.append(UInt8(ascii: ":"))
        put(Int(parts.tm_sec), 2)
        output.append(UInt8(ascii: "."))
        put(fraction, fractionDigits)
        output.append(UInt8(ascii: "Z"))
    }

    public static func string(seconds: Int, fraction: Int, fractionDigits: Int) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(21 + fractionDigits)
        append(seconds: seconds, fraction: fraction, fractionDigits: fractionDigits, to: &text)
        return String(decoding: text, as: UTF8.self)
    }
}
