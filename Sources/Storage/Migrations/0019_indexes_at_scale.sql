-- What keeps the queue's and the inbox's lookups off a sequential scan once `jobs` and `webhook_events` hold millions
-- of rows, nearly all of them finished (StorageScaleTests explains each statement on a million of each).

-- A key's jobs still to run (`JobsTable.waiting`, the scheduler's `NOT EXISTS`) are read from `jobs_key_pending_idx`
-- (0020): only queued, failed and running jobs are in it, so it is as small as the queue, not its history.

-- One state's jobs newest first (the ops list), and each state's bounded count. It takes the place of
-- (status, updated_at, id), which no statement reads: as many indexes for every job's change of state as before.
CREATE INDEX jobs_status_id_idx ON jobs (status, id);
DROP INDEX jobs_status_idx;

-- The sync names Nango reported for a connection's models: a handful of values under all of its sync webhooks,
-- read by a skip scan (one probe per name).
CREATE INDEX webhook_events_sync_names_idx ON webhook_events (integration_id, connection_id, model, sync_name)
    WHERE type = 'sync' AND sync_name IS NOT NULL;
