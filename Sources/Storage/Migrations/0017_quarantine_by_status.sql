-- The console's quarantine list (every pipeline, one status, newest first, 100 at a time) walks this index and stops
-- at the hundredth entry, instead of reading and sorting every entry: with 20,000 open entries (a 1,000,000-record
-- sync quarantines about 2%) the page took over 300 ms.
CREATE INDEX quarantine_status_idx ON quarantine (status, last_seen_at DESC, id DESC);
