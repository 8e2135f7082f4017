-- Outbound webhooks (docs/outbound.md): endpoints clients register, the messages each is sent (Standard Webhooks), every
-- delivery attempt, and the lifecycle events that are not row changes.

CREATE TABLE webhook_endpoints (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url                    text NOT NULL,
    description            text,
    event_types            text[],                  -- NULL: every type
    company_id             uuid REFERENCES companies (id) ON DELETE CASCADE,   -- NULL: every company
    rate_limit             integer CHECK (rate_limit > 0),                      -- messages a second; NULL: none
    status                 text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    disabled_reason        text,
    secret_sealed          bytea NOT NULL,          -- "whsec_…", sealed with TOKEN_ENCRYPTION_KEY
    previous_secret_sealed bytea,                   -- signs too until previous_secret_until (a rotation's overlap)
    previous_secret_until  timestamptz,
    failing_since          timestamptz,             -- the first failure since the last success
    last_success_at        timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_created_idx ON webhook_endpoints (created_at, id);

CREATE TABLE webhook_messages (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id       text NOT NULL UNIQUE,          -- the `webhook-id` header: the same on every attempt
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type       text NOT NULL,
    company_id       uuid,
    stream           text NOT NULL,                 -- messages of one stream go out in order: company/resource, or the type
    body             text NOT NULL,                 -- the exact bytes signed and sent
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
-- The delivery loop's claim: due pending messages, oldest first.
CREATE INDEX webhook_messages_due_idx ON webhook_messages (next_attempt_at, id) WHERE status = 'pending';
-- One stream's order, and the admin list of an endpoint's messages by status.
CREATE INDEX webhook_messages_stream_idx ON webhook_messages (endpoint_id, stream, id) WHERE status = 'pending';
CREATE INDEX webhook_messages_endpoint_idx ON webhook_messages (endpoint_id, status, id);
CREATE INDEX webhook_messages_created_idx ON webhook_messages (created_at);

CREATE TABLE webhook_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id       bigint NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    status_code      integer,
    latency_ms       integer NOT NULL,
    response_excerpt text,                          -- the first 1 KiB of the answer
    error            text
);
CREATE INDEX webhook_attempts_message_idx ON webhook_attempts (message_id, id);

-- Lifecycle events, in the change log's position space (xid, seq) and read the same way (below the oldest running
-- transaction): written by triggers in the transaction that made them, so none can be lost.
CREATE TABLE outbound_events (
    xid          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    seq          bigint      NOT NULL DEFAULT nextval('change_seq'),
    type         text        NOT NULL,
    company_id   uuid,
    data         jsonb       NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (xid, seq)
);
CREATE INDEX outbound_events_occurred_idx ON outbound_events (occurred_at);

-- The dispatcher's durable position over both logs, and the last change position of each (company, resource) stream:
-- a message's `cursor_from` is the position before its first change, so consecutive messages chain exactly.
CREATE TABLE outbound_dispatch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    xid       xid8    NOT NULL,
    seq       bigint  NOT NULL
);
INSERT INTO outbound_dispatch (xid, seq) VALUES ('0'::xid8, 0);

CREATE TABLE outbound_streams (
    company_id uuid   NOT NULL,
    resource   text   NOT NULL,
    xid        xid8   NOT NULL,
    seq        bigint NOT NULL,
    PRIMARY KEY (company_id, resource)
);

CREATE FUNCTION record_connection_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := 'connection.created';
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        kind := CASE NEW.status
            WHEN 'refresh_failed' THEN 'connection.refresh_failed'
            WHEN 'disconnected' THEN 'connection.disconnected'
            WHEN 'active' THEN 'connection.recovered'
        END;
    END IF;
    IF kind IS NOT NULL THEN
        INSERT INTO outbound_events (type, company_id, data) VALUES (kind, NEW.id, jsonb_build_object(
            'company_id', NEW.id, 'connection_id', NEW.connection_id, 'integration_id', NEW.integration_id,
            'provider', NEW.provider, 'status', NEW.status, 'status_reason', NEW.status_reason));
        PERFORM pg_notify('changes', NEW.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER companies_connection_events AFTER INSERT OR UPDATE OF status ON companies
    FOR EACH ROW EXECUTE FUNCTION record_connection_events();

CREATE FUNCTION record_dead_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    company uuid;
BEGIN
    IF NEW.status = 'dead' AND OLD.status IS DISTINCT FROM 'dead' THEN
        SELECT id INTO company FROM companies
        WHERE integration_id = NEW.payload->>'integration_id' AND connection_id = NEW.payload->>'connection_id';
        INSERT INTO outbound_events (type, company_id, data) VALUES ('sync.failed', company, jsonb_build_object(
            'job_id', NEW.id, 'kind', NEW.kind, 'company_id', company, 'connection_id', NEW.payload->>'connection_id',
            'integration_id', NEW.payload->>'integration_id', 'model', NEW.payload->>'model', 'attempts', NEW.attempts,
            'last_error', NEW.last_error));
        IF company IS NOT NULL THEN PERFORM pg_notify('changes', company::text); END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_dead_events AFTER UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION record_dead_jobs();
