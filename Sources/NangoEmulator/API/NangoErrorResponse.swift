import Foundation
import HTTPTypes
import Hummingbird
import MarketplaceCore
import Nango

/// Nango's error shape `{"error": {"code", "message"}}` with Nango's codes (docs/nango.md §2.1).
struct NangoErrorResponse: HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String?
    var headers: HTTPFields = [:]
    var extra: [String: JSONValue] = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var detail: [String: JSONValue] = ["code": .string(code)]
        if let message { detail["message"] = .string(message) }
        detail.merge(extra) { $1 }
        var response = try JSONResponse.make(JSONValue.object(["error": .object(detail)]), status: status)
        for field in headers { response.headers.append(field) }
        return response
    }

    static func invalid(_ code: String, _ message: String, path: [String]) -> NangoErrorResponse {
        NangoErrorResponse(status: .badRequest, code: code, message: message, extra: [
            "errors": .array([.object(["code": "custom", "message": .string(message), "path": .array(path.map(JSONValue.string))])]),
        ])
    }
}

enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
