-- The overview's changes per minute read the last hour of the change log (ChangesTable.perMinute): without an index
-- on `occurred_at` that is a sequential scan of up to RETENTION_CHANGES (30 days) of every company's changes, at
-- every render and live refresh. `occurred_at` is the writer's now(), so new entries land at the index's right edge.
CREATE INDEX changes_occurred_idx ON changes (occurred_at);
