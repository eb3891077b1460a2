-- migrator:no-transaction
-- A new enum value cannot be used in the transaction that adds it, so this
-- file runs statement by statement; IF NOT EXISTS makes a rerun harmless.
ALTER TYPE appointment_status ADD VALUE IF NOT EXISTS 'no_show';
