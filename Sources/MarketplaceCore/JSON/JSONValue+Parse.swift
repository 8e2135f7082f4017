/// A JSON parser straight into `JSONValue`, for the hot path of syncs (every record of every page):
/// `JSONDecoder` through `Codable` containers cost several times more per record.
extension JSONValue {
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let offset: Int
        public let message: String
        public var description: String { "\(message) at byte \(offset)" }
    }

    /// Stands in for a lone surrogate escape when parsing with `markingLoneSurrogates`: a noncharacter, reserved
    /// by Unicode for internal use, so it never comes from a provider and Postgres stores it.
    public static let loneSurrogateMarker = Character(Unicode.Scalar(0xFDD0 as UInt32)!)

    /// `markingLoneSurrogates`: a `\uD800`-style escape without its pair (JavaScript strings may hold one, and
    /// `JSON.stringify` writes it) becomes ``loneSurrogateMarker`` instead of failing the whole document, so
    /// the caller can set aside just the value that held it.
    public static func parse(_ bytes: some Collection<UInt8>, markingLoneSurrogates: Bool = false) throws(ParseError) -> JSONValue {
        let buffer = Array(bytes)
        var parser = Parser(bytes: buffer, marksLoneSurrogates: markingLoneSurrogates)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == buffer.count else { throw ParseError(offset: parser.position, message: "unexpected trailing bytes") }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        var marksLoneSurrogates = false
        var position = 0

        mutating func skipWhitespace() {
            while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x0D || bytes[position] == 0x09 {
                position += 1
            }
        }

        func fail(_ message: String) -> ParseError { ParseError(offset: position, message: message) }

        mutating func value(depth: Int) throws(ParseError) -> JSONValue {
            guard depth < 512 else { throw fail("nesting too deep") }
            guard position < bytes.count else { throw fail("unexpected end") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var object: [String: JSONValue] = [:]
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(object) }
                while true {
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let key = try string()
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    position += 1
                    skipWhitespace()
                    object[key] = try value(depth: depth + 1)
                    skipWhitespace()
                    guard position < bytes.count else { throw fail("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(object) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                position += 1
                var array: [JSONValue] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(array) }
                while true {
                    skipWhitespace()
                    array.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard position < bytes.count else { throw fail("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(array) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default:
                return .number(try number())
            }
        }

        mutating func literal(_ word: StaticString) throws(ParseError) {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw fail("unexpected end") }
            for index in 0..<count where bytes[position + index] != word.utf8Start[index] { throw fail("invalid literal") }
            position += count
        }

        mutating func number() throws(ParseError) -> Double {
            let start = position
            while position < bytes.count {
                let byte = bytes[position]
                guard (byte >= 48 && byte <= 57) || byte == 45 || byte == 43 || byte == 46 || byte == 101 || byte == 69 else { break }
                position += 1
            }
            guard position > start, let value = Double(String(decoding: bytes[start..<position], as: UTF8.self)) else {
                throw ParseError(offset: start, message: "invalid value")
            }
            return value
        }

        mutating func string() throws(ParseError) -> String {
            position += 1   // opening quote
            let start = position
            // Fast path: no escapes.
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let text = String(decoding: bytes[start..<position], as: UTF8.self)
                    position += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw fail("control character in string") }
                position += 1
            }
            var output = Array(bytes[start..<position])
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    position += 1
                    return String(decoding: output, as: UTF8.self)
                }
                if byte < 0x20 { throw fail("control character in string") }
                guard byte == UInt8(ascii: "\\") else { output.append(byte); position += 1; continue }
                position += 1
                guard position < bytes.count else { break }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): output.append(0x22)
                case UInt8(ascii: "\\"): output.append(0x5C)
                case UInt8(ascii: "/"): output.append(0x2F)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A surrogate pair: the low half must follow.
                        let pairFollows = position + 1 < bytes.count && bytes[position] == UInt8(ascii: "\\") && bytes[position + 1] == UInt8(ascii: "u")
                        if pairFollows {
                            let mark = position
                            position += 2
                            let low = try hex4()
                            if (0xDC00..<0xE000).contains(low) {
                                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            } else if marksLoneSurrogates {
                                position = mark
                                output.append(contentsOf: Array(String(JSONValue.loneSurrogateMarker).utf8))
                                continue
                            } else {
                                throw fail("invalid surrogate pair")
                            }
                        } else if marksLoneSurrogates {
                            output.append(contentsOf: Array(String(JSONValue.loneSurrogateMarker).utf8))
                            continue
                        } else {
                            throw fail("lone surrogate")
                        }
                    }
                    guard let unicode = Unicode.Scalar(scalar) else {
                        // A low surrogate with no high one before it.
                        if marksLoneSurrogates, (0xDC00..<0xE000).contains(scalar) {
                            output.append(contentsOf: Array(String(JSONValue.loneSurrogateMarker).utf8))
                            continue
                        }
                        throw fail("invalid unicode escape")
                    }
                    output.append(contentsOf: Array(String(Character(unicode)).utf8))
                default: throw fail("invalid escape")
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard position + 4 <= bytes.count else { throw fail("short unicode escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt32
                switch byte {
                case 48...57: digit = UInt32(byte - 48)
                case 65...70: digit = UInt32(byte - 55)
                case 97...102: digit = UInt32(byte - 87)
                default: throw fail("invalid unicode escape")
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }
    }
}
