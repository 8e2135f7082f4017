-- Nango started a model's sync over (its sync webhook's `checkpoints.from` is null): records it dropped before that
-- never arrive as DELETED, so the model needs a full re-read. The mark is set in the transaction that stores the
-- webhook, and cleared only by a complete full re-read that started after it: no crash, failed request or later
-- incremental run can lose it.
ALTER TABLE sync_state ADD COLUMN nango_restarted_at timestamptz;
