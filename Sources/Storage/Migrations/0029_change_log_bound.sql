-- Where readers of the change log and of `outbound_events` stop: below the oldest transaction that is still running
-- and might be this database's, instead of below the oldest running in the whole cluster.
--
-- Readers used `pg_snapshot_xmin(pg_current_snapshot())`: every transaction below it has ended, so nothing can commit
-- below a position a reader has passed (0022_change_log.sql). But xids are drawn cluster-wide, so a long transaction in
-- another database (a report, a `pg_dump`, another service sharing the cluster) held every follower back for as long
-- as it ran, though it can never write a change here.
--
-- The bound is now the smallest xid the reader's snapshot lists as running (`pg_snapshot_xip`), leaving out those that
-- `pg_stat_get_activity` shows belong to a backend of another database, or the snapshot's `xmax` when none is left.
-- Everything below it has ended, or is a transaction of another database, which cannot write here; transactions that
-- take an xid after the snapshot get one at or above `xmax`. Leaving a running xid out needs that positive sighting,
-- and a backend's database never changes, so a sighting read late or from a cached copy is still true: an xid not seen
-- (its transaction ended meanwhile, a prepared transaction, a backend whose database is unknown) stays in and holds
-- the readers back as before. Never above `xmax` nor below the old bound.
--
-- The reader's own transaction, when it has an xid, is never in its snapshot's list: the bound stays at or below it,
-- as the old one did, so a reader never passes a change it wrote itself and has not committed.
--
-- STABLE, so its statements read the calling statement's snapshot: the bound and the rows read with it come from the
-- same one. The activity is read afresh (`pg_stat_clear_snapshot`): a copy cached earlier in a longer transaction could
-- pair an xid with the database of a backend that held its slot before, and one read after the snapshot can only pair
-- that way an xid drawn after it, which no reader takes anyway. A standby keeps running xids out of the snapshot's list,
-- so it reads below the old bound.
CREATE FUNCTION change_log_bound() RETURNS xid8
LANGUAGE plpgsql STABLE PARALLEL UNSAFE AS $$
DECLARE
    snapshot pg_snapshot := pg_current_snapshot();
    oldest xid8;
BEGIN
    IF pg_is_in_recovery() THEN
        RETURN pg_snapshot_xmin(snapshot);
    END IF;
    PERFORM pg_stat_clear_snapshot();
    SELECT min(running) INTO oldest
    FROM pg_snapshot_xip(snapshot) AS running
    WHERE xid(running) NOT IN (
        SELECT other.backend_xid FROM pg_stat_get_activity(NULL) AS other
        WHERE other.backend_xid IS NOT NULL AND other.datid IS NOT NULL AND other.datid <> 0
          AND other.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()));
    RETURN least(coalesce(oldest, pg_snapshot_xmax(snapshot)), pg_current_xact_id_if_assigned());
END
$$;
