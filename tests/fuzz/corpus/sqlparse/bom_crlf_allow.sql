-- migrator:allow drop-table
DROP TABLE x;
  DROP TABLE y;
DO $$
BEGIN
  -- migrator:allow dml
  DELETE FROM a;
  DELETE FROM b;
END $$;
