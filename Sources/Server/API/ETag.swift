import HTTPTypes
import MarketplaceCore
import Hummingbird
import Query

/// Strong ETags for GET answers: a hash of the exact body; `If-None-Match` that matches answers 304.
enum ETag {
    static func respond(_ answer: CachedAnswer, to request: Request) -> Response {
        let tag = answer.etag
        var headers: HTTPFields = [.eTag: tag, .cacheControl: "private, no-cache"]
        if let presented = request.headers[.ifNoneMatch],
           presented == "*" || presented.split(separator: ",").map(\.trimmedWhitespace).contains(tag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: answer.body))
    }
}
