import Storage

/// The message types an endpoint may subscribe to (docs/outbound.md).
public enum OutboundEventType {
    public static func changed(_ resource: Resource) -> String { resource.rawValue + ".changed" }

    public static let connectionCreated = "connection.created"
    public static let connectionRefreshFailed = "connection.refresh_failed"
    public static let connectionRecovered = "connection.recovered"
    public static let connectionDisconnected = "connection.disconnected"
    public static let syncFailed = "sync.failed"
    public static let driftDetected = "sync.drift_detected"
    public static let test = "webhook.test"

    public static let all: [String] = Resource.allCases.map(changed) + [
        connectionCreated, connectionRefreshFailed, connectionRecovered, connectionDisconnected, syncFailed, driftDetected, test,
    ]
}
