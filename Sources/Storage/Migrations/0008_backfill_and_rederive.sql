-- Ops' two actions on a pipeline: a backfill re-reads its model from the start of Nango's stream with a
-- cursor of its own (the incremental checkpoint never moves backwards); a re-derivation rebuilds its rows
-- from the raw records already stored, without calling Nango.

CREATE TABLE pipeline_backfills (
    pipeline      text NOT NULL,
    company_id    uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    model         text NOT NULL,
    -- The backfill's own position in Nango's stream: NULL until its first page lands.
    cursor        text,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    PRIMARY KEY (pipeline, company_id)
);

-- The model a row was read from, so a re-derivation takes only its own pipeline's rows (rows written
-- before this migration have none: a pipeline that is its integration's only one for the target owns them).
ALTER TABLE locations ADD COLUMN source_model text;
ALTER TABLE contacts  ADD COLUMN source_model text;
ALTER TABLE products  ADD COLUMN source_model text;

-- A quarantined record's modification time at Nango, so a record that passes after a fix lands in its place in time.
ALTER TABLE quarantine ADD COLUMN source_updated_at timestamptz;
