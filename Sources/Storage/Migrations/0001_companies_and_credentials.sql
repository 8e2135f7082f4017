-- Companies: one per Nango connection, and the OAuth credentials Nango holds for it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;   -- trigram indexes serve the API's `q` name/email search

CREATE TABLE companies (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    connection_id      text NOT NULL UNIQUE,
    integration_id     text NOT NULL,          -- Nango's provider config key, e.g. "quickbooks"
    provider           text NOT NULL,          -- Nango's provider, e.g. "quickbooks"
    external_id        text,                   -- the provider's own id for the company (realm, tenant, portal…)
    name               text,
    legal_name         text,
    email              text,
    phone              text,
    website            text,
    tax_id             text,
    address_line1      text,
    address_line2      text,
    city               text,
    region             text,
    postal_code        text,
    country            char(2),                -- ISO 3166-1 alpha-2
    currency           char(3),                -- ISO 4217
    status             text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'disconnected', 'refresh_failed')),
    status_reason      text,
    status_changed_at  timestamptz,
    connection_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    raw                jsonb,
    source_updated_at  timestamptz,
    last_synced_at     timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (connection_id <> '' AND integration_id <> '')
);
-- Keyset pages: (updated_at, id) and (name, id); status filter; name search.
CREATE INDEX companies_updated_idx ON companies (updated_at, id);
CREATE INDEX companies_created_idx ON companies (created_at, id);
CREATE INDEX companies_name_idx ON companies (name, id);
CREATE INDEX companies_status_idx ON companies (status, updated_at, id);
CREATE INDEX companies_name_trgm_idx ON companies USING gin (name gin_trgm_ops);

CREATE TABLE connection_credentials (
    company_id          uuid PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    auth_type           text NOT NULL,          -- Nango's credentials.type: OAUTH2, OAUTH1, API_KEY, BASIC…
    -- AES-GCM sealed boxes (nonce ‖ ciphertext ‖ tag) under TOKEN_ENCRYPTION_KEY; never stored in clear.
    access_token_sealed  bytea NOT NULL,
    refresh_token_sealed bytea,
    key_version         smallint NOT NULL DEFAULT 1,
    token_fingerprint   text,                   -- short hash to tell tokens apart in admin views
    scopes              text,
    expires_at          timestamptz,
    last_refreshed_at   timestamptz,
    refresh_failures    integer NOT NULL DEFAULT 0 CHECK (refresh_failures >= 0),
    last_refresh_error  text,
    last_refresh_error_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connection_credentials_expires_idx ON connection_credentials (expires_at);
