-- Validate in two steps: NOT VALID takes the lock for an instant only;
-- VALIDATE scans without blocking writes.
ALTER TABLE call_log
    ADD CONSTRAINT call_log_duration_nonnegative CHECK (duration_sec >= 0) NOT VALID;
ALTER TABLE call_log VALIDATE CONSTRAINT call_log_duration_nonnegative;
