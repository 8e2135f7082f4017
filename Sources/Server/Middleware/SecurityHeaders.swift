import HTTPTypes

/// Standard headers for a JSON API: no sniffing, no framing, no referrer, no caching of
/// authenticated answers by shared caches, and HTTPS only once a browser has seen it over HTTPS.
enum SecurityHeaders {
    static let list: [(HTTPField.Name, String)] = [
        (.xContentTypeOptions, "nosniff"),
        (.xFrameOptions, "DENY"),
        (.referrerPolicy, "no-referrer"),
        (.contentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'"),
        (.strictTransportSecurity, "max-age=63072000; includeSubDomains"),
        (.crossOriginOpenerPolicy, "same-origin"),
        (.crossOriginResourcePolicy, "same-origin"),
    ]
    static let fields = HTTPFields(list.map { HTTPField(name: $0.0, value: $0.1) })
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let crossOriginOpenerPolicy = Self("Cross-Origin-Opener-Policy")!
    static let crossOriginResourcePolicy = Self("Cross-Origin-Resource-Policy")!
}
