-- The overview's changes per minute read the last hour of the change log (ChangesTable.perMinute), and retention deletes
-- by age: without an index on `occurred_at` both scan up to RETENTION_CHANGES (30 days) of every company's changes.
-- `occurred_at` is the writer's now(), so the table is in time order on disk: a BRIN index finds the recent block
-- ranges at a fraction of a btree's upkeep on every change a sync writes.
CREATE INDEX changes_occurred_idx ON changes USING brin (occurred_at) WITH (pages_per_range = 32);
