-- Another ACCESS EXCLUSIVE lock on accounts.
ALTER TABLE accounts ADD COLUMN suspended_at timestamptz;
