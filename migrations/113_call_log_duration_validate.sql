-- The second step of 110_call_log_duration_check.sql, in its own
-- transaction: VALIDATE takes only SHARE UPDATE EXCLUSIVE while it scans.
ALTER TABLE call_log VALIDATE CONSTRAINT call_log_duration_nonnegative;
