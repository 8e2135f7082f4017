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
