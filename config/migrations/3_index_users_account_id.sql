-- deployd: no-transaction
-- deployd: lock_timeout=10s
-- Built concurrently so the api keeps writing to users meanwhile; a
-- concurrent build cannot run inside a transaction, hence the directive.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_account_id_idx ON users (account_id);
