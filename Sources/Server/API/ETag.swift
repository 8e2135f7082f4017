import HTTPTypes
import MarketplaceCore
import Hummingbird
import Query

/// Strong ETags for GET answers: a hash of the exact body; `If-None-Match` that matches answers 304. A client that
/// accepts gzip gets the body gzip-compressed (made once per body, `GzipVariants`) under an ETag of its own, as two
/// encodings of one answer are two representations; either tag answers 304.
enum ETag {
    static func respond(_ answer: CachedAnswer, to request: Request, variants: GzipVariants) -> Response {
        let gzipped = ContentCoding.acceptsGzip(request.headers[.acceptEncoding]) ? variants.gzip(answer.body, etag: answer.etag) : nil
        let tag = gzipped == nil ? answer.etag : gzipTag(answer.etag)
        var headers: HTTPFields = [.eTag: tag, .cacheControl: "private, no-cache", .vary: "Accept-Encoding"]
        if let presented = request.headers[.ifNoneMatch], matches(presented, answer.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json; charset=utf-8"
        guard let gzipped else { return Response(status: .ok, headers: headers, body: .init(byteBuffer: answer.body)) }
        headers[.contentEncoding] = "gzip"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: gzipped))
    }

    /// `"<hash>-gzip"` for the gzip form of the answer tagged `"<hash>"`.
    static func gzipTag(_ etag: String) -> String {
        String(etag.dropLast()) + "-gzip\""
    }

    /// Whether an `If-None-Match` list names the answer tagged `etag`, in either encoding (weak comparison: `W/` is
    /// ignored, as RFC 9110 asks for this header).
    static func matches(_ presented: String, _ etag: String) -> Bool {
        let gzip = gzipTag(etag)
        return presented.split(separator: ",").contains { element in
            var tag = element.trimmedWhitespace
            if tag.hasPrefix("W/") { tag = String(tag.dropFirst(2)) }
            return tag == "*" || tag == etag || tag == gzip
        }
    }
}

/// `Accept-Encoding` (RFC 9110 §12.5.3), as far as gzip is concerned.
enum ContentCoding {
    /// True when the header names `gzip` (or `x-gzip`) with a non-zero weight, or `*` with a non-zero weight and
    /// gzip not refused by name. No header: false; answers go as they are, as most servers do.
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        var named: Bool?
        var wildcard: Bool?
        for element in header.split(separator: ",") {
            let parts = element.split(separator: ";")
            guard let coding = parts.first?.trimmedWhitespace.lowercased(), !coding.isEmpty else { continue }
            guard let weight = weight(parts.dropFirst()) else { continue }
            switch coding {
            case "gzip", "x-gzip": named = (named ?? false) || weight > 0
            case "*": wildcard = weight > 0
            default: continue
            }
        }
        return named ?? wildcard ?? false
    }

    /// The `q` parameter in thousandths (1000 without one); nil when it is malformed.
    static func weight(_ parameters: ArraySlice<Substring>) -> Int? {
        for parameter in parameters {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmedWhitespace.lowercased() == "q" else { continue }
            let value = pair[1].trimmedWhitespace
            // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
            let (whole, fraction) = value.firstIndex(of: ".").map { (value[..<$0], value[value.index(after: $0)...]) } ?? (value[...], "")
            guard whole == "0" || whole == "1", fraction.count <= 3, fraction.allSatisfy({ ("0"..."9").contains($0) }) else { return nil }
            let thousandths = Int(String(fraction) + String(repeating: "0", count: 3 - fraction.count)) ?? 0
            if whole == "1" { return thousandths == 0 ? 1000 : nil }
            return thousandths
        }
        return 1000
    }
}
