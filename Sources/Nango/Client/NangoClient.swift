import AsyncHTTPClient
import Foundation
import Logging
import MarketplaceCore
import NIOCore
import NIOHTTP1

/// Nango's REST API (or the emulator: only `baseURL` and `secretKey` differ).
///
/// Every call has a timeout; 5xx answers and transport failures are retried with exponential
/// back-off and full jitter; a 429 pauses every call of the instance until Nango's window resets
/// (`X-RateLimit-Reset`) plus jitter, and costs no attempt. Errors are ``NangoError``.
/// The secret key goes only into the `Authorization` header and never into a log line.
public struct NangoClient: Sendable {
    public struct Configuration: Sendable {
        public var baseURL: String
        public var secretKey: Secret
        public var timeout: Duration = .seconds(30)
        /// Attempts per call, the first included.
        public var maxAttempts = 5
        public var initialBackOff: Duration = .milliseconds(200)
        public var maxBackOff: Duration = .seconds(10)
        /// A 429 asking for longer than this is surfaced instead of waited out (Nango's window is 60 s).
        public var maxRetryAfter: Duration = .seconds(90)
        /// Added at random to each rate-limit pause, so instances do not all return at the window's first second.
        public var rateLimitJitter: Duration = .seconds(3)
        /// 429s one call waits out before it surfaces `rateLimited` (to the queue, which delays the job without
        /// spending an attempt).
        public var maxRateLimitPauses = 10
        public var maxResponseBytes = 64 << 20

        public init(baseURL: String, secretKey: Secret) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.secretKey = secretKey
        }
    }

    public let configuration: Configuration
    let http: HTTPClient
    let logger: Logger
    /// Shared by every copy of this client: one pause for the whole instance.
    let rateLimit = NangoRateLimitGate()

    public init(configuration: Configuration, httpClient: HTTPClient = .shared, logger: Logger) {
        self.configuration = configuration
        self.http = httpClient
        self.logger = logger
    }

    // MARK: Connections

    public func connection(
        _ connectionId: String, providerConfigKey: String, forceRefresh: Bool = false, includeRefreshToken: Bool = false
    ) async throws(NangoError) -> NangoConnection {
        var query = [("provider_config_key", providerConfigKey)]
        if forceRefresh { query.append(("force_refresh", "true")) }
        if includeRefreshToken { query.append(("refresh_token", "true")) }
        // `/connection/{id}` is deprecated in favour of `/connections/{id}` (docs/nango.md §2.5).
        return try await send(.GET, "/connections/\(Self.escape(connectionId))", query: query)
    }

    public func connections(integrationId: String? = nil) async throws(NangoError) -> [NangoConnectionList.Item] {
        let list: NangoConnectionList = try await send(.GET, "/connections", query: integrationId.map { [("integrationId", $0)] } ?? [])
        return list.connections
    }

    /// True when Nango deleted something.
    @discardableResult
    public func deleteConnection(_ connectionId: String, providerConfigKey: String) async throws(NangoError) -> Bool {
        struct Answer: Decodable { let success: Bool }
        let answer: Answer = try await send(
            .DELETE, "/connections/\(Self.escape(connectionId))", query: [("provider_config_key", providerConfigKey)])
        return answer.success
    }

    public func createConnectSession(_ request: NangoConnectSessionRequest) async throws(NangoError) -> NangoConnectSession {
        let envelope: NangoDataEnvelope<NangoConnectSession> = try await send(.POST, "/connect/sessions", body: request)
        return envelope.data
    }

    public func createReconnectSession(_ request: NangoReconnectSessionRequest) async throws(NangoError) -> NangoConnectSession {
        let envelope: NangoDataEnvelope<NangoConnectSession> = try await send(.POST, "/connect/sessions/reconnect", body: request)
        return envelope.data
    }

    // MARK: Records and syncs

    /// One page of `GET /records`.
    public func recordsPage(_ query: NangoRecordsQuery) async throws(NangoError) -> NangoRecordsPage {
        let answer = try await perform(.GET, "/records", query: query.items, headers: [
            ("Connection-Id", query.connectionId), ("Provider-Config-Key", query.providerConfigKey),
        ], body: nil)
        return try NangoRecordsPage.parse(answer.body.readableBytesView)
    }

    /// Every page from `query.cursor` to the end of the change stream.
    public func records(_ query: NangoRecordsQuery) -> NangoRecordPages {
        NangoRecordPages(client: self, query: query)
    }

    public func triggerSync(_ trigger: NangoSyncTrigger) async throws(NangoError) {
        struct Answer: Decodable { let success: Bool }
        let _: Answer = try await send(.POST, "/sync/trigger", body: trigger)
    }

    /// `GET /sync/status` for one connection (docs/nango.md §2.12): its syncs named in `syncs` (`name` or
    /// `name::variant`; nil asks for every sync, `*`), with their status, latest run and record counts per model.
    /// Names Nango does not know are left out of the answer, not refused.
    public func syncStatus(
        providerConfigKey: String, connectionId: String, syncs: [String]? = nil
    ) async throws(NangoError) -> [NangoSyncStatus] {
        struct Answer: Decodable { let syncs: [NangoSyncStatus] }
        let query = [("provider_config_key", providerConfigKey), ("syncs", syncs?.joined(separator: ",") ?? "*"), ("connection_id", connectionId)]
        do {
            let answer: Answer = try await send(.GET, "/sync/status", query: query)
            return answer.syncs
        } catch .badRequest(400, "invalid_body", "Connection not found") {
            // Nango's way of saying the connection is gone on this route (`getSyncStatus.ts`): the same as the
            // `unknown_connection` other routes answer, so callers meet one error for it.
            throw .notFound(code: "invalid_body", message: "Connection not found")
        }
    }

    // MARK: Proxy

    public struct ProxyResponse: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
    }

    /// Calls the provider through Nango's proxy, which adds the connection's credentials.
    /// The provider's status comes back as is: only Nango-side failures throw.
    public func proxy(
        _ method: HTTPMethod, path: String, connectionId: String, providerConfigKey: String,
        headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws(NangoError) -> ProxyResponse {
        let prefixed = headers.map { ("Nango-Proxy-\($0.0)", $0.1) }
        let response = try await perform(
            method, "/proxy/" + path.drop(while: { $0 == "/" }), query: [],
            headers: [("Connection-Id", connectionId), ("Provider-Config-Key", providerConfigKey)] + prefixed,
            body: body.map { ByteBuffer(bytes: $0) }, acceptAnyStatus: true
        )
        return ProxyResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: Array(response.body.readableBytesView)
        )
    }

    static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }
}
