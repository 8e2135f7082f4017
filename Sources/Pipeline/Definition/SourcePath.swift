/// A path into a record as Nango serves it: `billing_city`, `mailing_address.city`, `phones[0].number`,
/// `_nango_metadata.last_modified_at`.
public struct SourcePath: Sendable, Hashable, CustomStringConvertible {
    public enum Segment: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public let segments: [Segment]
    public let description: String

    public struct Malformed: Error, Equatable {
        /// Offset (in characters) of the problem within the path text.
        public let offset: Int
        public let message: String
    }

    public init(parsing text: String) throws(Malformed) {
        var segments: [Segment] = []
        let characters = Array(text)
        var position = 0
        func isKeyCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" || c == "-" || c == "$" || c == "@" }
        guard !characters.isEmpty else { throw Malformed(offset: 0, message: "empty source path") }
        while position < characters.count {
            let start = position
            while position < characters.count, isKeyCharacter(characters[position]) { position += 1 }
            guard position > start else {
                throw Malformed(offset: position, message: "expected a field name at '\(String(characters[position...]))' in source path '\(text)'")
            }
            segments.append(.key(String(characters[start..<position])))
            while position < characters.count, characters[position] == "[" {
                let digitsStart = position + 1
                var end = digitsStart
                while end < characters.count, characters[end].isASCII, characters[end].isNumber { end += 1 }
                guard end > digitsStart, end < characters.count, characters[end] == "]", let index = Int(String(characters[digitsStart..<end])) else {
                    throw Malformed(offset: position, message: "expected an array index like [0] in source path '\(text)'")
                }
                segments.append(.index(index))
                position = end + 1
            }
            if position < characters.count {
                guard characters[position] == "." else {
                    throw Malformed(offset: position, message: "unexpected '\(characters[position])' in source path '\(text)'")
                }
                position += 1
                guard position < characters.count else {
                    throw Malformed(offset: position - 1, message: "source path '\(text)' ends with '.'")
                }
            }
        }
        self.segments = segments
        self.description = text
    }
}
