-- Keyset pages for every sort the API offers: (company, sort value, id). Names sort with NULL as '',
-- so the row comparison of a keyset never meets a NULL.
CREATE INDEX locations_created_idx ON locations (company_id, created_at, id);
CREATE INDEX contacts_created_idx  ON contacts  (company_id, created_at, id);
CREATE INDEX products_created_idx  ON products  (company_id, created_at, id);
CREATE INDEX locations_name_sort_idx ON locations (company_id, (coalesce(name, '')), id);
CREATE INDEX contacts_name_sort_idx  ON contacts  (company_id, (coalesce(display_name, '')), id);
CREATE INDEX products_name_sort_idx  ON products  (company_id, (coalesce(name, '')), id);
CREATE INDEX companies_name_sort_idx ON companies ((coalesce(name, '')), id);
DROP INDEX locations_name_idx;
DROP INDEX contacts_name_idx;
DROP INDEX products_name_idx;
DROP INDEX companies_name_idx;
-- Locations' search expression, as contacts and products have theirs.
CREATE INDEX locations_search_trgm_idx ON locations USING gin ((coalesce(name, '') || ' ' || coalesce(city, '')) gin_trgm_ops);
DROP INDEX locations_name_trgm_idx;
