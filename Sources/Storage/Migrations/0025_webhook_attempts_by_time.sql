-- The console's Outbound pages read attempts by time: each endpoint's share answered 2xx per hour over the last 24 hours
-- and the newest attempts (WebhookMessagesTable+Console). Without an index on `attempted_at` each render and live
-- refresh would read every attempt kept (RETENTION_OUTBOUND_MESSAGES, 30 days). `attempted_at` is the writer's now(),
-- so new entries land at the index's right edge; the message and status code ride along so the hourly counts need
-- only the index and each message's row (for its endpoint).
CREATE INDEX webhook_attempts_attempted_idx ON webhook_attempts (attempted_at, id) INCLUDE (message_id, status_code);
