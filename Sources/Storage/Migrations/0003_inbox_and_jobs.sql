-- The webhook inbox and the job queue: Ingest writes both in one transaction; Pipeline workers claim jobs.

CREATE TABLE webhook_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at     timestamptz NOT NULL DEFAULT now(),
    type            text NOT NULL,             -- auth | sync | forward | anything Nango adds later
    operation       text,                      -- creation | override | refresh | deletion …
    success         boolean,
    connection_id   text,
    integration_id  text,                      -- providerConfigKey
    provider        text,
    model           text,
    sync_name       text,
    dedupe_key      text NOT NULL UNIQUE,      -- identifies a delivery: Nango resends the same bytes
    raw_body        text NOT NULL,             -- exactly as received, for replay and audit
    status          text NOT NULL DEFAULT 'received'
                    CHECK (status IN ('received', 'processing', 'processed', 'ignored', 'failed')),
    error           text,
    processed_at    timestamptz
);
CREATE INDEX webhook_events_received_idx ON webhook_events (received_at, id);
CREATE INDEX webhook_events_type_idx ON webhook_events (type, received_at, id);
CREATE INDEX webhook_events_connection_idx ON webhook_events (connection_id, received_at, id);
CREATE INDEX webhook_events_status_idx ON webhook_events (status, received_at, id) WHERE status <> 'processed';

CREATE TABLE jobs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              text NOT NULL,
    payload           jsonb NOT NULL DEFAULT '{}'::jsonb,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      integer NOT NULL DEFAULT 8 CHECK (max_attempts > 0),
    run_at            timestamptz NOT NULL DEFAULT now(),
    -- One (connection, model) syncs at a time: at most one running job per key.
    concurrency_key   text,
    lease_owner       text,
    lease_expires_at  timestamptz,
    last_error        text,
    event_id          bigint REFERENCES webhook_events (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    CHECK ((status = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);
-- Claim order for workers: due queued (or failed, awaiting retry) jobs.
CREATE INDEX jobs_claim_idx ON jobs (run_at, id) WHERE status IN ('queued', 'failed');
CREATE UNIQUE INDEX jobs_running_key_idx ON jobs (concurrency_key) WHERE status = 'running' AND concurrency_key IS NOT NULL;
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_status_idx ON jobs (status, updated_at, id);
CREATE INDEX jobs_kind_idx ON jobs (kind, created_at, id);
CREATE INDEX jobs_event_idx ON jobs (event_id);
