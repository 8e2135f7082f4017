-- At most one queued job per (kind, concurrency key), decided by the database: a unique index on `waiting_key`
-- over queued jobs. A webhook (or scheduler round, or API request) whose key already has a queued job is linked to
-- it instead of queueing another. Kinds whose order matters (a company's upsert, refresh failure, disconnection)
-- have no waiting key: each of their events keeps a job of its own.
ALTER TABLE jobs ADD COLUMN waiting_key text;
UPDATE jobs SET waiting_key = kind || '|' || concurrency_key
WHERE concurrency_key IS NOT NULL AND kind NOT IN ('connection.upsert', 'connection.refresh_failed', 'connection.disconnected');

-- Every event names the job that handles it; several events can share one job.
ALTER TABLE webhook_events ADD COLUMN job_id bigint REFERENCES jobs (id) ON DELETE SET NULL;
UPDATE webhook_events e SET job_id = j.id FROM jobs j WHERE j.event_id = e.id;
CREATE INDEX webhook_events_job_idx ON webhook_events (job_id);

-- Queued duplicates from before: the oldest of each key keeps them all.
WITH ranked AS (
    SELECT id, min(id) OVER (PARTITION BY waiting_key) AS keeper
    FROM jobs WHERE status = 'queued' AND waiting_key IS NOT NULL
), relinked AS (
    UPDATE webhook_events e SET job_id = r.keeper FROM ranked r WHERE e.job_id = r.id AND r.id <> r.keeper
)
UPDATE jobs j SET status = 'cancelled', last_error = 'merged into waiting job ' || r.keeper, finished_at = now(), updated_at = now()
FROM ranked r WHERE j.id = r.id AND r.id <> r.keeper;

CREATE UNIQUE INDEX jobs_waiting_key_idx ON jobs (waiting_key) WHERE status = 'queued';
