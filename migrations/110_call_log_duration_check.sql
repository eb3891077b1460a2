-- Validate in two migrations: NOT VALID takes the ACCESS EXCLUSIVE lock for
-- an instant only; 113_call_log_duration_validate.sql validates it later,
-- scanning under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on.
-- (VALIDATE in this same file would scan inside this file's transaction,
-- still holding the ACCESS EXCLUSIVE lock taken here: lint warns on it.)
ALTER TABLE call_log
    ADD CONSTRAINT call_log_duration_nonnegative CHECK (duration_sec >= 0) NOT VALID;
