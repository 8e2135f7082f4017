-- A company is Nango's (integration, connection) pair: Nango scopes connection ids per integration
-- (provider config key), so the same id under HubSpot and Salesforce is two companies with two
-- credentials and two checkpoints per model. Every row already carries both halves; only the keys change.

ALTER TABLE companies DROP CONSTRAINT companies_connection_id_key;
ALTER TABLE companies ADD CONSTRAINT companies_integration_connection_key UNIQUE (integration_id, connection_id);
-- Lookups by connection id alone (admin filters) stay indexed.
CREATE INDEX companies_connection_idx ON companies (connection_id);

ALTER TABLE sync_state DROP CONSTRAINT sync_state_pkey;
ALTER TABLE sync_state ADD PRIMARY KEY (integration_id, connection_id, model);

-- One open quarantine entry per (pipeline, company, record): the company names the pair.
DROP INDEX quarantine_open_record_idx;
CREATE UNIQUE INDEX quarantine_open_record_idx ON quarantine (pipeline, company_id, record_key) WHERE status = 'open';

-- The inbox's connection filter and a company's events go by the pair.
CREATE INDEX webhook_events_integration_connection_idx ON webhook_events (integration_id, connection_id, received_at, id);
