import Logging

extension AppConfiguration {
    /// The effective settings as name/value pairs, secrets masked: safe to print or log.
    public var maskedSummary: [(name: String, value: String)] {
        [
            ("database", database.maskedURL),
            ("database.pool_size", "\(database.poolSize)"),
            ("redis", redis.maskedURL),
            ("redis.pool_size", "\(redis.poolSize)"),
            ("redis.command_timeout", "\(redis.commandTimeout)"),
            ("nango.base_url", nango.baseURL),
            ("nango.secret_key", nango.secretKey.masked),
            ("nango.webhook_secret", nango.webhookSecret.masked),
            ("nango.webhook_secret_previous", nango.previousWebhookSecret?.masked ?? "(unset)"),
            ("nango.legacy_signature", "\(nango.acceptsLegacySignature)"),
            ("nango.rate_limit_jitter", "\(nango.rateLimitJitter)"),
            ("jwt_secret", security.jwtSecret.masked),
            ("admin_token", security.adminToken?.masked ?? "(unset: admin endpoints closed)"),
            ("token_encryption_key", security.tokenEncryptionKey.masked),
            ("http.listen", "\(http.host):\(http.port)"),
            ("http.request_body_limit", "\(http.requestBodyLimit)"),
            ("http.webhook_body_limit", "\(http.webhookBodyLimit)"),
            ("http.cors_allowed_origins", http.corsAllowedOrigins.isEmpty ? "(none)" : http.corsAllowedOrigins.joined(separator: ",")),
            ("http.shutdown_timeout", "\(http.shutdownTimeout)"),
            ("oauth.success_url", oauth.successURL ?? "(unset: JSON answer)"),
            ("oauth.failure_url", oauth.failureURL ?? "(unset: JSON answer)"),
            ("oauth.state_ttl", "\(oauth.stateTTL)"),
            ("jwt_ttl", "\(oauth.tokenTTL)"),
            ("public_url", oauth.publicURL),
            ("rate_limit", "\(rateLimit.requests) per \(rateLimit.window)"),
            ("cache.default_ttl", "\(cacheDefaultTTL)"),
            ("cache.compression_threshold", "\(cacheCompressionThreshold) bytes"),
            ("cache.redis_timeout", "\(min(cacheRedisTimeout, redis.commandTimeout))"),
            ("log.level", logs.level.rawValue),
            ("log.format", logs.format.rawValue),
            ("pipelines_file", pipelinesFile),
            ("jobs.workers", "\(jobs.workers)"),
            ("jobs.lease", "\(jobs.lease)"),
            ("jobs.reconcile", "every \(jobs.reconcileInterval), pairs older than \(jobs.syncMaxAge)"),
            ("jobs.credential_refresh", "every \(jobs.credentialRefreshInterval), tokens expiring within \(jobs.refreshWindow)"),
            ("jobs.cleanup", "every \(jobs.cleanupInterval)"),
        ]
    }
}
