-- The versions of cached (company, resource) answers live here, bumped in the transaction of the write that makes
-- them stale (a sync's page): a committed sync is never answered from an older cache entry, whatever Redis went
-- through meanwhile. Redis keeps only the entries, under keys that carry the version.
CREATE TABLE cache_versions (
    company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    resource    text NOT NULL,
    version     bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (company_id, resource)
);
