import Foundation
import HTTPTypes
import Hummingbird

/// JSON answers, encoded one way everywhere (sorted keys, ISO 8601 dates, not cached).
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(value)
        return prepared(ByteBuffer(bytes: data), status: status)
    }

    /// A body encoded once, answered as is.
    static func prepared(_ body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    static let headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"]
    /// `{"status":"ok"}`: probes poll it all day.
    static let statusOK = ByteBuffer(string: #"{"status":"ok"}"#)
}
