-- The change log's triggers (0022) made cheaper, for the same changes (issue 28: a sync keeps >= 95% of its records/s
-- with the change log on).
--
-- Where the time went, measured with EXPLAIN ANALYZE on pages of 1,000 contacts shaped like the bench's sync: the
-- insert trigger took 20-30 ms a page, as long as the upsert itself, three quarters of it building `data`:
-- `to_jsonb(n)` rendered every column, `raw` (the provider's record, the widest) included, and each of the five
-- `- 'key'` copied the whole object again. On an update, the BEFORE row trigger rendered both rows as jsonb twice to
-- see whether anything visible changed (about 35 ms a page of 1,000), and the statement trigger rendered them again
-- to find the changes (40-70 ms). Now:
--
-- - `data` is `to_jsonb` of a row of the rendered columns alone. Their names are read from the catalog on each call,
--   so a column added later is rendered with no change here, as `to_jsonb(n) - hidden` did; the value is the same,
--   byte for byte.
-- - "Did anything visible change" compares the columns themselves: the statement trigger with `ROW(new columns) IS
--   DISTINCT FROM ROW(old columns)`, the row trigger with the old row, its bookkeeping fields taken from the new
--   one, `=` the new row (a record comparison, where nulls are equal). Values compare by their types' equality, which
--   is what comparing the jsonb renderings did: a numeric 1.0 and 1.00, a float -0 and 0, a `char` padded or not, are
--   equal either way, and a time renders the same exactly when it is the same instant. (A column of a type with no
--   equality, `json` or `point`, would make these comparisons fail loudly: give such a column a type that has one.)
-- - An `INSERT … ON CONFLICT` fires both statement triggers, one of them on no rows: that one returns at once.
--
-- Nothing else changes: the same triggers on the same tables; a change is written by the writer's own statement in its
-- own transaction, so it exists exactly when its write committed; `xid` and `seq` are drawn as before, per row, after
-- the write (so positions stay in commit order per row, and readers still take only xid < pg_snapshot_xmin);
-- `updated_at` is still kept when nothing a client sees changed. The companies' statement function is unchanged (a
-- company is written once a sync, not once a record).

-- Bookkeeping: `change_xid` always; `updated_at` kept when nothing else a client sees changed.
CREATE OR REPLACE FUNCTION carry_change_xid() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    same record;
BEGIN
    NEW.change_xid := greatest(pg_current_xact_id(), OLD.change_xid);
    IF NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
        -- The old row with what clients do not see taken from the new one: equal (nulls equal too) when only that changed.
        same := OLD;
        same.change_xid := NEW.change_xid;
        same.updated_at := NEW.updated_at;
        same.raw := NEW.raw;
        IF TG_TABLE_NAME = 'companies' THEN
            same.connection_metadata := NEW.connection_metadata;
            same.token_generation := NEW.token_generation;
            same.last_synced_at := NEW.last_synced_at;
            same.source_updated_at := NEW.source_updated_at;
        ELSE
            same.content_hash := NEW.content_hash;
            same.source_model := NEW.source_model;
        END IF;
        IF same = NEW THEN
            NEW.updated_at := OLD.updated_at;
        END IF;
    END IF;
    RETURN NEW;
END $$;

-- Rows of locations, contacts and products as the list endpoints render them (ResourceReadTable.hidden): every column
-- but content_hash, company_id, source_model, raw and change_xid. An update is a change when any of those but updated_at
-- differs, company_id included (as before).
CREATE OR REPLACE FUNCTION record_resource_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rendered text;   -- r.<column>, each column `data` holds
    new_cols text;   -- r.<column>, each column an update compares
    old_cols text;   -- o.<column>, the same
BEGIN
    -- An INSERT … ON CONFLICT fires both statement triggers, one of them with no rows: nothing to write or tell.
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT FROM old_rows) THEN RETURN NULL; END IF;
    ELSIF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
    SELECT string_agg(format('r.%I', attname), ', ' ORDER BY attnum) FILTER (WHERE attname <> 'company_id'),
           string_agg(format('r.%I', attname), ', ' ORDER BY attnum) FILTER (WHERE attname <> 'updated_at'),
           string_agg(format('o.%I', attname), ', ' ORDER BY attnum) FILTER (WHERE attname <> 'updated_at')
      INTO rendered, new_cols, old_cols
      FROM pg_attribute
     WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped
       AND attname NOT IN ('content_hash', 'source_model', 'raw', 'change_xid');
    IF TG_OP = 'INSERT' THEN
        EXECUTE format($q$
            INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, data)
            SELECT r.change_xid, nextval('change_seq'), r.company_id, %L, r.id, r.external_id,
                   CASE WHEN r.deleted_at IS NULL THEN 'created' ELSE 'deleted' END, to_jsonb(d)
            FROM new_rows r, LATERAL (SELECT %s) AS d $q$, TG_TABLE_NAME, rendered);
        PERFORM pg_notify('changes', c::text) FROM (SELECT DISTINCT company_id FROM new_rows) AS s(c);
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE format($q$
            INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, data)
            SELECT r.change_xid, nextval('change_seq'), r.company_id, %L, r.id, r.external_id,
                   CASE WHEN r.deleted_at IS NOT NULL THEN 'deleted' WHEN o.deleted_at IS NOT NULL THEN 'created' ELSE 'updated' END,
                   to_jsonb(d)
            FROM new_rows r JOIN old_rows o ON o.id = r.id, LATERAL (SELECT %s) AS d
            WHERE ROW(%s) IS DISTINCT FROM ROW(%s)
              AND NOT (r.deleted_at IS NOT NULL AND o.deleted_at IS NOT NULL) $q$, TG_TABLE_NAME, rendered, new_cols, old_cols);
        PERFORM pg_notify('changes', c::text) FROM (SELECT DISTINCT company_id FROM new_rows) AS s(c);
    ELSE
        EXECUTE format($q$
            INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, data)
            SELECT greatest(pg_current_xact_id(), r.change_xid), nextval('change_seq'), r.company_id, %L, r.id, r.external_id,
                   'deleted', to_jsonb(d) || jsonb_build_object('deleted_at', now())
            FROM old_rows r, LATERAL (SELECT %s) AS d
            WHERE r.deleted_at IS NULL $q$, TG_TABLE_NAME, rendered);
        PERFORM pg_notify('changes', c::text) FROM (SELECT DISTINCT company_id FROM old_rows) AS s(c);
    END IF;
    RETURN NULL;
END $$;
