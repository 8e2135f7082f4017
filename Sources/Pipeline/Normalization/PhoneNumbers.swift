import MarketplaceCore
import Foundation
import CPhoneNumber

/// Phone numbers to E.164 through libphonenumber (Debian's `libphonenumber-dev`, behind a C shim).
public enum PhoneNumbers {
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case notANumber
        case invalidForRegion(String?)

        public var description: String {
            switch self {
            case .notANumber: return "is not a phone number"
            case .invalidForRegion(let region):
                return region.map { "is not a valid number (read with region \($0))" } ?? "is not a valid number and has no country code"
            }
        }
    }

    /// `defaultRegion` reads numbers written without a country code (`(415) 444-6538` in US).
    public static func e164(_ text: String, defaultRegion: String?) throws(Problem) -> String {
        var input = text.trimmedWhitespace
        if input.hasPrefix("00") { input = "+" + input.dropFirst(2) }
        guard input.contains(where: \.isNumber) else { throw .notANumber }
        return try libphonenumber(compacted(input) ?? input, defaultRegion: defaultRegion)
    }

    /// The number's digits alone (after its `+`, when it starts with one) when it is written with nothing but digits
    /// and the separators of `(415) 444-6538`, `030 1234-5678` and `415.555.0199`; nil for anything else (letters,
    /// an extension, another script's digits). libphonenumber reads both alike — it drops those separators before it
    /// looks at the digits — but every one of its regular expressions then runs on fewer characters: a third of a
    /// number's cost, and numbers are most of a sync's CPU.
    static func compacted(_ input: String) -> String? {
        var digits: [UInt8] = []
        digits.reserveCapacity(input.utf8.count)
        for (offset, byte) in input.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(byte)
            case UInt8(ascii: "+") where offset == 0: digits.append(byte)
            case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "."): continue
            default: return nil
            }
        }
        // libphonenumber takes two bare digits as a (too short) number but refuses two split by a separator: both are
        // refused, for different reasons. Short inputs go as written.
        guard digits.count(where: { $0 != UInt8(ascii: "+") }) >= 3 else { return nil }
        return String(decoding: digits, as: UTF8.self)
    }

    /// libphonenumber's own reading of `input`: parsed with the region, checked valid, formatted as E.164.
    static func libphonenumber(_ input: String, defaultRegion: String?) throws(Problem) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let status = phone_format_e164(input, defaultRegion, &buffer, buffer.count)
        switch status {
        case 0:
            let end = buffer.firstIndex(of: 0) ?? buffer.count
            return String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        case 1: throw .notANumber
        default: throw .invalidForRegion(defaultRegion)
        }
    }
}
