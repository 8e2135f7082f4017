-- What the pipeline writes: locations, contacts and products of each company.
-- Each row: the provider's id, typed normalized columns, the provider record as served (raw),
-- a content hash so a re-run of the same records changes nothing, and a soft delete.

CREATE TABLE locations (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id        uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    external_id       text NOT NULL CHECK (external_id <> ''),
    name              text,
    kind              text,                    -- e.g. warehouse, store, office
    email             text,
    phone             text,                    -- E.164
    address_line1     text,
    address_line2     text,
    city              text,
    region            text,
    postal_code       text,
    country           char(2),
    latitude          double precision,
    longitude         double precision,
    timezone          text,
    is_active         boolean,
    source_updated_at timestamptz,
    deleted_at        timestamptz,
    content_hash      text NOT NULL,
    raw               jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, external_id)
);
CREATE INDEX locations_updated_idx ON locations (company_id, updated_at, id);
CREATE INDEX locations_name_idx ON locations (company_id, name, id);
CREATE INDEX locations_name_trgm_idx ON locations USING gin (name gin_trgm_ops);

CREATE TABLE contacts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id        uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    external_id       text NOT NULL CHECK (external_id <> ''),
    display_name      text,
    first_name        text,
    last_name         text,
    organization      text,
    title             text,
    email             text,
    phone             text,                    -- E.164
    mobile            text,                    -- E.164
    address_line1     text,
    address_line2     text,
    city              text,
    region            text,
    postal_code       text,
    country           char(2),
    is_active         boolean,
    source_updated_at timestamptz,
    deleted_at        timestamptz,
    content_hash      text NOT NULL,
    raw               jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, external_id)
);
CREATE INDEX contacts_updated_idx ON contacts (company_id, updated_at, id);
CREATE INDEX contacts_name_idx ON contacts (company_id, display_name, id);
CREATE INDEX contacts_email_idx ON contacts (company_id, lower(email));
CREATE INDEX contacts_search_trgm_idx ON contacts USING gin ((coalesce(display_name, '') || ' ' || coalesce(email, '')) gin_trgm_ops);

CREATE TABLE products (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id        uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    external_id       text NOT NULL CHECK (external_id <> ''),
    sku               text,
    name              text,
    description       text,
    kind              text,                    -- e.g. inventory, service, non_inventory
    unit_price        numeric(20, 6),          -- exact decimal in the currency's units
    currency          char(3),                 -- ISO 4217
    unit_cost         numeric(20, 6),
    quantity_on_hand  numeric(20, 6),
    taxable           boolean,
    is_active         boolean,
    source_updated_at timestamptz,
    deleted_at        timestamptz,
    content_hash      text NOT NULL,
    raw               jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, external_id)
);
CREATE INDEX products_updated_idx ON products (company_id, updated_at, id);
CREATE INDEX products_name_idx ON products (company_id, name, id);
CREATE INDEX products_sku_idx ON products (company_id, sku);
CREATE INDEX products_search_trgm_idx ON products USING gin ((coalesce(name, '') || ' ' || coalesce(sku, '')) gin_trgm_ops);
