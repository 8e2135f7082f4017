-- The drift check (docs/drift.md): per (company, model), Nango's own record count against what we hold.

-- Records Nango served pruned (payload emptied) that we never stored: counted as held, one row each.
CREATE TABLE pruned_records (
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    model      text NOT NULL,
    record_id  text NOT NULL,
    PRIMARY KEY (company_id, model, record_id)
);

-- A mismatch found, and what came of it: `open` until the counts agree again (`healed`).
CREATE TABLE sync_drift (
    company_id        uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    model             text NOT NULL,
    integration_id    text NOT NULL,
    connection_id     text NOT NULL,
    state             text NOT NULL CHECK (state IN ('open', 'healed')),
    nango_count       bigint NOT NULL,
    our_count         bigint NOT NULL,
    detected_at       timestamptz NOT NULL DEFAULT now(),
    healed_at         timestamptz,
    -- The full re-read asked for this drift, and the counts it was asked at: another is asked only when either changes.
    reread_job_id     bigint,
    reread_nango      bigint,
    reread_ours       bigint,
    notified_at       timestamptz,               -- sync.drift_detected sent (once per open drift)
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, model)
);
CREATE INDEX sync_drift_state_idx ON sync_drift (state, detected_at, company_id, model);

-- What the last check of a (company, model) found: "agreed at 57", or why it was skipped.
ALTER TABLE sync_state ADD COLUMN drift_checked_at timestamptz;
ALTER TABLE sync_state ADD COLUMN drift_check_result text;
