import Foundation

/// Lower-case hex of bytes, without `String(format:)` (which goes through CoreFoundation and was a
/// tenth of a sync's CPU when every record's content hash used it).
public enum Hex {
    @usableFromInline static let digits = Array("0123456789abcdef".utf8)

    /// Inlinable so callers in other modules get it specialized for their sequence (it runs per synced record).
    @inlinable public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension UUID {
    /// `3f2504e0-4f89-11d3-9a0c-0305e82c3301`: the form the API, cache keys and logs use, formatted on bytes
    /// (`uuidString` goes through `sprintf` on Linux, then `lowercased()` copies it again; a cached read makes several).
    public var lowercasedString: String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { output in
                var index = 0
                for (position, byte) in bytes.enumerated() {
                    if position == 4 || position == 6 || position == 8 || position == 10 {
                        output[index] = UInt8(ascii: "-")
                        index += 1
                    }
                    output[index] = Hex.digits[Int(byte >> 4)]
                    output[index + 1] = Hex.digits[Int(byte & 0x0F)]
                    index += 2
                }
                return index
            }
        }
    }
}
