import NIOCore
import Query
import Testing

@testable import Server

/// `Accept-Encoding` as far as gzip goes, and `If-None-Match` against either encoding's tag: pure, no sockets.
@Suite struct ContentCodingTests {
    @Test(arguments: [
        ("gzip", true), ("GZip", true), ("x-gzip", true), ("gzip, deflate, br", true), ("br;q=1.0, gzip;q=0.8, *;q=0.1", true),
        ("*", true), ("deflate, *;q=0.5", true), ("gzip;q=0.001", true), ("gzip ; q=1", true), ("identity, gzip;Q=0.5", true),
        ("", false), ("identity", false), ("deflate, br", false), ("gzip;q=0", false), ("gzip;q=0.000", false),
        ("*;q=0", false), ("gzip;q=0, *", false), ("*, gzip;q=0", false), ("gzip;q=2", false), ("gzip;q=1.5", false),
        ("gzip;q=0.5000", false), ("gzip;q=abc", false), ("x-gzip;q=0, gzip", true), (",,, ;", false),
    ])
    func gzipIsAcceptedAsTheHeaderWeighsIt(header: String, accepted: Bool) {
        #expect(ContentCoding.acceptsGzip(header) == accepted, "\(header)")
    }

    @Test func noHeaderMeansTheBodyAsItIs() {
        #expect(ContentCoding.acceptsGzip(nil) == false)
    }

    @Test func eitherEncodingsTagMatches() {
        let tag = "\"0123456789abcdef0123456789abcdef\""
        #expect(ETag.gzipTag(tag) == "\"0123456789abcdef0123456789abcdef-gzip\"")
        #expect(ETag.matches("\"0123456789abcdef0123456789abcdef\"", tag))
        #expect(ETag.matches("\"0123456789abcdef0123456789abcdef-gzip\"", tag))
        #expect(ETag.matches("\"other\", W/\"0123456789abcdef0123456789abcdef-gzip\"", tag))
        #expect(ETag.matches(" * ", tag))
        #expect(!ETag.matches("\"0123456789abcdef0123456789abcdee\"", tag))
        #expect(!ETag.matches("\"0123456789abcdef0123456789abcdef-br\"", tag))
        #expect(!ETag.matches("0123456789abcdef0123456789abcdef", tag))
    }

    @Test func gzipFormsAreKeptWithinTheirBoundsAndBodiesThatDoNotShrinkGoAsTheyAre() {
        let variants = GzipVariants(capacity: 2, bytes: 1 << 20)
        let json = ByteBuffer(string: "[" + String(repeating: "{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"},", count: 100) + "{}]")
        let first = variants.gzip(json, etag: "\"a\"")
        #expect(first != nil)
        #expect(first!.readableBytes < 400)
        #expect(variants.count == 1)
        #expect(variants.gzip(json, etag: "\"a\"") == first)
        #expect(variants.gzip(ByteBuffer(string: String(repeating: "x", count: 1023)), etag: "\"small\"") == nil)
        #expect(variants.count == 1)
        // Bytes with no redundancy do not shrink: answered as they are, and remembered so.
        var generator = SystemRandomNumberGenerator()
        let noise = ByteBuffer(bytes: (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
        #expect(variants.gzip(noise, etag: "\"noise\"") == nil)
        #expect(variants.count == 2)
        _ = variants.gzip(json, etag: "\"b\"")
        #expect(variants.count == 2, "the oldest goes beyond the capacity")
    }
}
