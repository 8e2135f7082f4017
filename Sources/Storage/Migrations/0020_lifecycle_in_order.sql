-- A connection's lifecycle jobs (those without a waiting key: every occurrence runs) are claimed in the order their
-- events arrived: none while an older job of its key is queued or failed (awaiting its retry). This index answers
-- "is an older one of this key pending" without reading the key's finished history.
CREATE INDEX jobs_key_pending_idx ON jobs (concurrency_key, id) WHERE status IN ('queued', 'failed', 'running');
