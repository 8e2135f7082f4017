-- Sync checkpoints, pipeline run history and quarantined records.

CREATE TABLE sync_state (
    connection_id       text NOT NULL,
    model               text NOT NULL,
    integration_id      text NOT NULL,
    company_id          uuid REFERENCES companies (id) ON DELETE CASCADE,
    -- The `_nango_metadata.cursor` of the last record processed: the next fetch resumes after it.
    cursor              text,
    modified_after      timestamptz,
    records_fetched     bigint NOT NULL DEFAULT 0,
    records_upserted    bigint NOT NULL DEFAULT 0,
    records_deleted     bigint NOT NULL DEFAULT 0,
    records_quarantined bigint NOT NULL DEFAULT 0,
    last_run_at         timestamptz,
    last_success_at     timestamptz,
    last_error          text,
    last_error_at       timestamptz,
    nango_sync_status   text,                  -- last sync webhook: success / failure from Nango
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, model)
);
CREATE INDEX sync_state_company_idx ON sync_state (company_id);

CREATE TABLE pipeline_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline        text NOT NULL,
    pipeline_hash   text,                      -- which version of pipelines.yaml ran
    company_id      uuid REFERENCES companies (id) ON DELETE CASCADE,
    connection_id   text NOT NULL,
    model           text NOT NULL,
    job_id          bigint REFERENCES jobs (id) ON DELETE SET NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    fetched         integer NOT NULL DEFAULT 0,
    upserted        integer NOT NULL DEFAULT 0,
    unchanged       integer NOT NULL DEFAULT 0,
    deleted         integer NOT NULL DEFAULT 0,
    quarantined     integer NOT NULL DEFAULT 0,
    duration_ms     integer,
    outcome         text NOT NULL DEFAULT 'running'
                    CHECK (outcome IN ('running', 'succeeded', 'failed', 'cancelled')),
    error           text
);
CREATE INDEX pipeline_runs_company_idx ON pipeline_runs (company_id, started_at DESC);
CREATE INDEX pipeline_runs_pipeline_idx ON pipeline_runs (pipeline, started_at DESC);

CREATE TABLE quarantine (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline        text NOT NULL,
    company_id      uuid REFERENCES companies (id) ON DELETE CASCADE,
    connection_id   text NOT NULL,
    model           text NOT NULL,
    external_id     text,
    -- external_id, or a hash of the record when it has none: one open entry per record.
    record_key      text NOT NULL,
    reasons         jsonb NOT NULL,            -- [{"field": "...", "message": "..."}]
    raw             jsonb NOT NULL,
    run_id          bigint REFERENCES pipeline_runs (id) ON DELETE SET NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'reprocessed')),
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz
);
CREATE UNIQUE INDEX quarantine_open_record_idx ON quarantine (pipeline, connection_id, record_key) WHERE status = 'open';
CREATE INDEX quarantine_pipeline_idx ON quarantine (pipeline, last_seen_at DESC, id);
CREATE INDEX quarantine_company_idx ON quarantine (company_id, last_seen_at DESC, id);
