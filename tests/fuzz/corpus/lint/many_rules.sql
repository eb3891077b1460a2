-- migrator:no-transaction
-- migrator:allow-dml
CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY, a text DEFAULT now());
CREATE INDEX t_a ON t (a);
INSERT INTO t (a) VALUES (E'x\n');
SET statement_timeout = 0;
DO $body$
BEGIN
  EXECUTE format('ALTER TABLE %I ADD COLUMN x int', 't');
  IF to_regclass('u') IS NULL THEN CREATE TABLE u (a int); END IF;
  COMMIT;
END $body$;
ALTER TABLE t ALTER COLUMN a SET NOT NULL, ALTER COLUMN a TYPE varchar(10);
DROP INDEX t_a;
ALTER TABLE t RENAME TO t2;
