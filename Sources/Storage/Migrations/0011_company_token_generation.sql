-- A company's tokens carry the generation they were issued under; revoking them moves it on, and a token of an
-- older generation is refused (within the few seconds each instance caches the company's state).
ALTER TABLE companies ADD COLUMN token_generation integer NOT NULL DEFAULT 0;
