-- A full resync re-reads a model's whole stream with a cursor of its own (the incremental checkpoint never
-- moves back), marks every record id it sees, and after a complete read soft-deletes the rows whose record
-- Nango no longer holds: hard deletes (an emptied cache, the 60-day auto-delete) never arrive as DELETED.
CREATE TABLE full_resyncs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id text NOT NULL,
    connection_id  text NOT NULL,
    model          text NOT NULL,
    reason         text NOT NULL,
    cursor         text,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    -- Set when the read starts: rows written after it (by a concurrent sync) are never taken for deleted.
    started_at     timestamptz,
    finished_at    timestamptz,
    deleted        integer NOT NULL DEFAULT 0
);
-- At most one unfinished resync per model; a second request joins it.
CREATE UNIQUE INDEX full_resyncs_open_idx ON full_resyncs (integration_id, connection_id, model) WHERE finished_at IS NULL;
CREATE INDEX full_resyncs_finished_idx ON full_resyncs (integration_id, connection_id, model, finished_at DESC);

-- The ids a resync has seen, in Postgres rather than memory: a million-record model fits in the usual footprint,
-- and a read resumed after a restart still knows what it saw.
CREATE TABLE full_resync_seen (
    resync_id bigint NOT NULL REFERENCES full_resyncs (id) ON DELETE CASCADE,
    record_id text NOT NULL,
    PRIMARY KEY (resync_id, record_id)
);
