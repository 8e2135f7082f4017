-- What the pipeline needs beyond the first schema: the provider's creation time on synced rows,
-- scheduled tasks that run once across instances, and a wake-up for workers when jobs become due.

ALTER TABLE companies ADD COLUMN source_created_at timestamptz;
ALTER TABLE locations ADD COLUMN source_created_at timestamptz;
ALTER TABLE contacts  ADD COLUMN source_created_at timestamptz;
ALTER TABLE products  ADD COLUMN source_created_at timestamptz;

-- One row per scheduled task: an instance claims a run by moving `next_run_at` forward in one UPDATE,
-- so with several instances each run happens once.
CREATE TABLE scheduled_tasks (
    name             text PRIMARY KEY,
    next_run_at      timestamptz NOT NULL DEFAULT now(),
    last_started_at  timestamptz,
    last_finished_at timestamptz,
    last_outcome     text,
    last_error       text,
    runs             bigint NOT NULL DEFAULT 0
);

-- Workers LISTEN on 'jobs'; a new or re-queued job wakes them at commit (they also poll).
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobs', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify();
CREATE TRIGGER jobs_notify_requeue AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status IS DISTINCT FROM 'queued') EXECUTE FUNCTION jobs_notify();

-- Reconciliation looks for every active (connection, model) whose last run is old.
CREATE INDEX sync_state_last_run_idx ON sync_state (last_run_at);
-- Cleanup deletes finished jobs by age.
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE status IN ('succeeded', 'cancelled');
