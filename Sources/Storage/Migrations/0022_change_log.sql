-- The change log behind `GET /api/companies/{id}/changes` and `GET /api/changes` (docs/changes.md).
--
-- Every committed write to companies, locations, contacts and products that clients can see is one row here, written
-- by the statement triggers below in the writer's own transaction: a change exists exactly when its write committed,
-- and no writer (the app's, a migration's, an operator's psql) can forget to record one.
--
-- A change's position is (xid, seq). `seq` comes from a sequence, drawn after the row was written; `xid` is the
-- writing transaction's id, or the xid of the row's previous change if that is larger. Readers take only positions
-- whose xid is below the oldest transaction still running (`pg_snapshot_xmin(pg_current_snapshot())`): every
-- transaction below it has ended, so nothing can ever commit below a position a reader has passed (no gaps, however
-- late a transaction commits). Carrying the row's previous xid forward keeps one row's changes in commit order even
-- when a transaction that began earlier writes the row after a later one committed. `seq` is the row's `version`:
-- a later write of a row waits for the earlier one's commit, so draws a larger number.

CREATE SEQUENCE change_seq AS bigint;

CREATE TABLE changes (
    xid          xid8        NOT NULL,
    seq          bigint      NOT NULL,
    company_id   uuid        NOT NULL,
    resource     text        NOT NULL CHECK (resource IN ('companies', 'locations', 'contacts', 'products')),
    resource_id  uuid        NOT NULL,
    external_id  text,
    kind         text        NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    data         jsonb       NOT NULL,
    PRIMARY KEY (xid, seq)
);
-- A company's feed, in order, index scans only.
CREATE INDEX changes_company_idx ON changes (company_id, xid, seq);

-- How far retention has deleted: a cursor below it may have missed changes (410 `cursor_expired`).
CREATE TABLE change_log_horizon (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    xid        xid8    NOT NULL,
    seq        bigint  NOT NULL
);
INSERT INTO change_log_horizon (xid, seq) VALUES ('0'::xid8, 0);

-- Each row remembers the position xid of its last change, so the next change of that row sorts after it.
-- (Added empty, then given its default: no table rewrite. A row without one has no change to follow.)
ALTER TABLE companies ADD COLUMN change_xid xid8;
ALTER TABLE locations ADD COLUMN change_xid xid8;
ALTER TABLE contacts  ADD COLUMN change_xid xid8;
ALTER TABLE products  ADD COLUMN change_xid xid8;
ALTER TABLE companies ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();
ALTER TABLE locations ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();
ALTER TABLE contacts  ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();
ALTER TABLE products  ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();

-- Also keeps `updated_at` when nothing a client sees changed (a rewrite with a new content hash, a company's sync
-- bookkeeping): `updated_at` is the time of the row's last change, so a client that followed the feed holds it too.
CREATE FUNCTION carry_change_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := greatest(pg_current_xact_id(), OLD.change_xid);
    IF NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
        IF TG_TABLE_NAME = 'companies' THEN
            IF (to_jsonb(NEW) - 'raw' - 'connection_metadata' - 'token_generation' - 'change_xid' - 'updated_at' - 'last_synced_at' - 'source_updated_at')
               = (to_jsonb(OLD) - 'raw' - 'connection_metadata' - 'token_generation' - 'change_xid' - 'updated_at' - 'last_synced_at' - 'source_updated_at') THEN
                NEW.updated_at := OLD.updated_at;
            END IF;
        ELSIF (to_jsonb(NEW) - 'content_hash' - 'source_model' - 'raw' - 'change_xid' - 'updated_at')
              = (to_jsonb(OLD) - 'content_hash' - 'source_model' - 'raw' - 'change_xid' - 'updated_at') THEN
            NEW.updated_at := OLD.updated_at;
        END IF;
    END IF;
    RETURN NEW;
END $$;

-- Rows of locations, contacts and products as the list endpoints render them (ResourceReadTable.hidden).
CREATE FUNCTION record_resource_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, data)
        SELECT n.change_xid, nextval('change_seq'), n.company_id, TG_TABLE_NAME, n.id, n.external_id,
               CASE WHEN n.deleted_at IS NULL THEN 'created' ELSE 'deleted' END,
               to_jsonb(n) - 'content_hash' - 'company_id' - 'source_model' - 'raw' - 'change_xid'
        FROM new_rows n;
        PERFORM pg_notify('changes', c::text) FROM (SELECT DISTINCT company_id FROM new_rows) AS s(c);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, data)
        SELECT n.change_xid, nextval('change_seq'), n.company_id, TG_TABLE_NAME, n.id, n.external_id,
               CASE WHEN n.deleted_at IS NOT NULL THEN 'deleted' WHEN o.deleted_at IS NOT NULL THEN 'created' ELSE 'updated' END,
               to_jsonb(n) - 'content_hash' - 'company_id' - 'source_model' - 'raw' - 'change_xid'
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (to_jsonb(n) - 'content_hash' - 'source_model' - 'raw' - 'change_xid' - 'updated_at')
              IS DISTINCT FROM (to_jsonb(o) - 'content_hash' - 'source_model' - 'raw' - 'change_xid' - 'updated_at')
          AND NOT (n.deleted_at IS NOT NULL AND o.deleted_at IS NOT NULL);
        PERFORM pg_notify('changes', c::text) FROM (SELECT DISTINCT company_id FROM new_rows) AS s(c);
    ELSE
        INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, data)
        SELECT greatest(pg_current_xact_id(), o.change_xid), nextval('change_seq'), o.company_id, TG_TABLE_NAME, o.id, o.external_id,
               'deleted', (to_jsonb(o) - 'content_hash' - 'company_id' - 'source_model' - 'raw' - 'change_xid')
                          || jsonb_build_object('deleted_at', coalesce(o.deleted_at, now()))
        FROM old_rows o WHERE o.deleted_at IS NULL;
        PERFORM pg_notify('changes', c::text) FROM (SELECT DISTINCT company_id FROM old_rows) AS s(c);
    END IF;
    RETURN NULL;
END $$;

-- The company itself: its status and profile as the companies list renders them. Sync bookkeeping
-- (last_synced_at, source_updated_at, updated_at) and token generations are not changes.
CREATE FUNCTION record_company_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, data)
        SELECT n.change_xid, nextval('change_seq'), n.id, 'companies', n.id, n.connection_id, 'updated',
               to_jsonb(n) - 'raw' - 'content_hash' - 'connection_metadata' - 'token_generation' - 'change_xid'
        FROM new_rows n;
    ELSE
        INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, data)
        SELECT n.change_xid, nextval('change_seq'), n.id, 'companies', n.id, n.connection_id, 'updated',
               to_jsonb(n) - 'raw' - 'content_hash' - 'connection_metadata' - 'token_generation' - 'change_xid'
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (to_jsonb(n) - 'raw' - 'connection_metadata' - 'token_generation' - 'change_xid' - 'updated_at' - 'last_synced_at' - 'source_updated_at')
              IS DISTINCT FROM
              (to_jsonb(o) - 'raw' - 'connection_metadata' - 'token_generation' - 'change_xid' - 'updated_at' - 'last_synced_at' - 'source_updated_at');
    END IF;
    PERFORM pg_notify('changes', c::text) FROM (SELECT DISTINCT id FROM new_rows) AS s(c);
    RETURN NULL;
END $$;

-- Companies record their own changes; the three resource tables share one function (it reads TG_TABLE_NAME).
CREATE TRIGGER companies_carry_change_xid BEFORE UPDATE ON companies FOR EACH ROW EXECUTE FUNCTION carry_change_xid();
CREATE TRIGGER companies_changes_inserted AFTER INSERT ON companies REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION record_company_changes();
CREATE TRIGGER companies_changes_updated AFTER UPDATE ON companies REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION record_company_changes();

DO $$
DECLARE
    resource text;
BEGIN
    FOREACH resource IN ARRAY ARRAY['locations', 'contacts', 'products'] LOOP
        EXECUTE format('CREATE TRIGGER %1$s_carry_change_xid BEFORE UPDATE ON %1$s FOR EACH ROW EXECUTE FUNCTION carry_change_xid()', resource);
        EXECUTE format('CREATE TRIGGER %1$s_changes_inserted AFTER INSERT ON %1$s REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION record_resource_changes()', resource);
        EXECUTE format('CREATE TRIGGER %1$s_changes_updated AFTER UPDATE ON %1$s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION record_resource_changes()', resource);
        EXECUTE format('CREATE TRIGGER %1$s_changes_deleted AFTER DELETE ON %1$s REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION record_resource_changes()', resource);
    END LOOP;
END $$;
