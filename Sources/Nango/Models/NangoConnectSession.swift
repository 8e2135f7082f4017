import MarketplaceCore

/// `POST /connect/sessions` body (docs/nango.md §2.8).
public struct NangoConnectSessionRequest: Codable, Sendable, Equatable {
    public struct EndUser: Codable, Sendable, Equatable {
        public var id: String
        public var email: String?
        public var displayName: String?

        enum CodingKeys: String, CodingKey {
            case id, email
            case displayName = "display_name"
        }

        public init(id: String, email: String? = nil, displayName: String? = nil) {
            self.id = id
            self.email = email
            self.displayName = displayName
        }
    }

    public var endUser: EndUser?
    public var allowedIntegrations: [String]?
    public var tags: [String: String]?

    enum CodingKeys: String, CodingKey {
        case tags
        case endUser = "end_user"
        case allowedIntegrations = "allowed_integrations"
    }

    public init(endUser: EndUser? = nil, allowedIntegrations: [String]? = nil, tags: [String: String]? = nil) {
        self.endUser = endUser
        self.allowedIntegrations = allowedIntegrations
        self.tags = tags
    }
}

/// `POST /connect/sessions/reconnect` body: a session whose Connect UI re-authorises an existing connection (Nango's
/// `override`), keeping its id, creation time and end user.
public struct NangoReconnectSessionRequest: Codable, Sendable, Equatable {
    public var connectionId: String
    public var integrationId: String
    public var tags: [String: String]?

    enum CodingKeys: String, CodingKey {
        case tags
        case connectionId = "connection_id"
        case integrationId = "integration_id"
    }

    public init(connectionId: String, integrationId: String, tags: [String: String]? = nil) {
        self.connectionId = connectionId
        self.integrationId = integrationId
        self.tags = tags
    }
}

/// `POST /connect/sessions` (and `/connect/sessions/reconnect`) answer: 201 `{"data": {token, connect_link, expires_at}}`.
public struct NangoConnectSession: Codable, Sendable, Equatable {
    public var token: String
    public var connectLink: String
    public var expiresAt: String

    enum CodingKeys: String, CodingKey {
        case token
        case connectLink = "connect_link"
        case expiresAt = "expires_at"
    }

    public init(token: String, connectLink: String, expiresAt: String) {
        self.token = token
        self.connectLink = connectLink
        self.expiresAt = expiresAt
    }
}

/// Nango wraps some answers in `{"data": …}`.
struct NangoDataEnvelope<Value: Codable & Sendable>: Codable, Sendable {
    var data: Value
}

/// `POST /sync/trigger` body (docs/nango.md §2.10).
public struct NangoSyncTrigger: Codable, Sendable, Equatable {
    public struct Options: Codable, Sendable, Equatable {
        public var reset: Bool?
    }
    public var syncs: [String]
    public var providerConfigKey: String
    public var connectionId: String?
    public var opts: Options?

    enum CodingKeys: String, CodingKey {
        case syncs, opts
        case providerConfigKey = "provider_config_key"
        case connectionId = "connection_id"
    }

    public init(syncs: [String], providerConfigKey: String, connectionId: String?, reset: Bool = false) {
        self.syncs = syncs
        self.providerConfigKey = providerConfigKey
        self.connectionId = connectionId
        self.opts = reset ? Options(reset: true) : nil
    }
}
