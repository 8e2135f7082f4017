-- Message bodies compressed with lz4 instead of pglz (issue 29: deliveries per second against the receiver's ceiling).
--
-- A `contacts.changed` of 100 changes is about 94 KB of JSON, stored out of line and compressed. Profiled while a
-- sync's messages were made and delivered, pglz was Postgres's costliest function on both sides: compressing each body
-- as the dispatcher stored it, and decompressing it again for every claim. lz4 does both several times faster, for a
-- little more room. Only bodies stored from now on change; those already stored stay as they are and read as before.
-- A server built without lz4 keeps pglz: the same rows, only slower.
DO $$
BEGIN
    ALTER TABLE webhook_messages ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available in this PostgreSQL build: message bodies stay compressed with pglz';
END $$;
