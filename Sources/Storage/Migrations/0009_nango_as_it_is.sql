-- Nango answers `credentials: {}` to an API key without the read-credentials scope: the company is stored and
-- synced (records need no token), its token unknown.
ALTER TABLE companies ADD COLUMN credentials_available boolean NOT NULL DEFAULT true;

-- Records Nango pruned (payload emptied after 30 days) that we never stored: skipped, and counted.
ALTER TABLE pipeline_runs ADD COLUMN pruned_skipped integer NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN records_pruned_skipped bigint NOT NULL DEFAULT 0;
