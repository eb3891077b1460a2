-- Every column the application reads must exist, or the migration fails.
SELECT count(*) = 3
FROM information_schema.columns
WHERE table_schema = current_schema()
  AND table_name = 'call_log'
  AND column_name IN ('started_at', 'ended_at', 'duration_sec');
