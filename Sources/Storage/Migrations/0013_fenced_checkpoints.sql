-- Every advance of an incremental checkpoint names the version it read and bumps it: a worker that lost its job to
-- another (its lease lapsed while Postgres was unreachable) cannot move the checkpoint back over the other's pages.
ALTER TABLE sync_state ADD COLUMN checkpoint_version bigint NOT NULL DEFAULT 0;
