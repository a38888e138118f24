-- ALTER TABLE takes an ACCESS EXCLUSIVE lock on accounts: it waits for every
-- open transaction that has read accounts (the api keeps one open).
ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'trial';
