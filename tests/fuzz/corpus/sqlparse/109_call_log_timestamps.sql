-- The migration of the real incident: three columns on a busy table.
-- Adding a nullable column without a default is a catalog-only change, but
-- it still needs ACCESS EXCLUSIVE on call_log for an instant: lock_timeout
-- bounds the wait, the migrator retries, and on failure nothing is recorded.
ALTER TABLE call_log ADD COLUMN IF NOT EXISTS started_at timestamptz;
ALTER TABLE call_log ADD COLUMN IF NOT EXISTS ended_at timestamptz;
ALTER TABLE call_log ADD COLUMN IF NOT EXISTS duration_sec integer;
