extension AppConfiguration {
    /// Outbound webhooks (docs/outbound.md): `OUTBOUND_*` and `RETENTION_OUTBOUND_MESSAGES`.
    public struct Outbound: Sendable, Equatable {
        /// `http://` endpoint URLs; https only otherwise.
        public var allowHTTP = false
        /// Endpoints whose host resolves to a loopback, private, link-local or metadata address.
        public var allowPrivateNetworks = false
        /// The delay before each attempt: the first is the first attempt's (Svix's schedule by default).
        public var retrySchedule: [Duration] = Outbound.svixSchedule
        /// Only a 2xx within this succeeds.
        public var timeout: Duration = .seconds(15)
        /// An endpoint failing this long without a success is disabled.
        public var disableAfter: Duration = .seconds(5 * 86_400)
        /// Requests in flight at once to one endpoint.
        public var maxInFlight = 8
        /// After a rotation, messages carry the old secret's signature too for this long.
        public var secretOverlap: Duration = .seconds(86_400)
        /// Messages (with their attempts) are deleted this long after they were made.
        public var retention: Duration = .seconds(30 * 86_400)

        public static let svixSchedule: [Duration] = [
            .seconds(0), .seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18_000), .seconds(36_000), .seconds(36_000),
        ]

        public init() {}

        /// `0s,5s,5m,30m,2h,5h,10h,10h`: durations in s, m, h or ms; nil when a part is not one.
        public static func parseSchedule(_ text: String) -> [Duration]? {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Substring($0).trimmingWhitespace() }
            guard !parts.isEmpty else { return nil }
            var schedule: [Duration] = []
            for part in parts {
                let (number, unit): (Substring, Int64)
                if part.hasSuffix("ms") { (number, unit) = (part.dropLast(2), 1) }
                else if part.hasSuffix("s") { (number, unit) = (part.dropLast(), 1000) }
                else if part.hasSuffix("m") { (number, unit) = (part.dropLast(), 60_000) }
                else if part.hasSuffix("h") { (number, unit) = (part.dropLast(), 3_600_000) }
                else { return nil }
                guard let value = Int64(number), value >= 0, value <= 7 * 24 * 3_600_000 / unit else { return nil }
                schedule.append(.milliseconds(value * unit))
            }
            return schedule
        }

        static func read(_ env: inout EnvironmentReader) -> Outbound {
            var outbound = Outbound()
            outbound.allowHTTP = env.bool("OUTBOUND_ALLOW_HTTP", default: false)
            outbound.allowPrivateNetworks = env.bool("OUTBOUND_ALLOW_PRIVATE_NETWORKS", default: false)
            if let text = env.raw("OUTBOUND_RETRY_SCHEDULE") {
                if let schedule = parseSchedule(text), (1...50).contains(schedule.count) {
                    outbound.retrySchedule = schedule
                } else {
                    env.fail("OUTBOUND_RETRY_SCHEDULE", "'\(text)' is not 1 to 50 comma-separated durations such as 0s,5s,5m,30m,2h")
                }
            }
            outbound.timeout = env.seconds("OUTBOUND_TIMEOUT", default: 15, in: 1...300)
            outbound.disableAfter = env.seconds("OUTBOUND_DISABLE_AFTER", default: 5 * 86_400, in: 1...365 * 86_400)
            outbound.maxInFlight = env.integer("OUTBOUND_MAX_IN_FLIGHT", default: 8, in: 1...256)
            outbound.secretOverlap = env.seconds("OUTBOUND_SECRET_OVERLAP", default: 86_400, in: 0...30 * 86_400)
            outbound.retention = env.seconds("RETENTION_OUTBOUND_MESSAGES", default: 30 * 86_400, in: 60...3650 * 86_400)
            return outbound
        }
    }
}
