-- The inbox stores a batch's jobs before its events, so each event is inserted with its job's id (no second write
-- of the same rows to link them): a job may name an event that its transaction inserts after it. The check of that
-- reference waits for the commit; everywhere else the event already exists, so nothing else changes.
ALTER TABLE jobs ALTER CONSTRAINT jobs_event_id_fkey DEFERRABLE INITIALLY DEFERRED;
