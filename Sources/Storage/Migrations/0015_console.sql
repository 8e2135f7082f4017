-- The ops console's sign-ins: the cookie carries a random id, the table only its SHA-256, so a read of this table
-- opens no session. Each session has its role (admin or viewer), its CSRF token, an expiry, and the fingerprint of
-- the token it was opened with: rotating ADMIN_TOKEN or CONSOLE_VIEWER_TOKEN ends the sessions it opened.
CREATE TABLE console_sessions (
    id_hash            bytea PRIMARY KEY,
    role               text NOT NULL CHECK (role IN ('admin', 'viewer')),
    csrf_token         text NOT NULL,
    token_fingerprint  text NOT NULL,
    address            text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry_idx ON console_sessions (expires_at);

-- Every failed attempt of a job, not only the last one: the console shows a dead job's history. The last 20 are kept.
ALTER TABLE jobs ADD COLUMN error_history jsonb NOT NULL DEFAULT '[]'::jsonb;

-- The console's live view watches the newest change of the queue.
CREATE INDEX jobs_updated_idx ON jobs (updated_at);

-- The overview's sync throughput reads the last hour of runs.
CREATE INDEX pipeline_runs_started_idx ON pipeline_runs (started_at);

-- A job's runs, on its console page (and the retention's ON DELETE SET NULL from jobs).
CREATE INDEX pipeline_runs_job_idx ON pipeline_runs (job_id);
