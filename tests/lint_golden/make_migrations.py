#!/usr/bin/env python3
"""
make_migrations.py
    Writes the mixed migrations directory of the lint golden test
    (tests/integration/test_lint_golden.py) into DIR: findings of every
    kind, files that do not parse, verify files, DO blocks, allow comments,
    a BOM, CRLF, form feeds and vertical tabs, comments before, between and
    after statements, and files on both sides of the parser's size limits.
    Generated rather than checked in so that the odd bytes (BOM, \\v, \\r)
    survive editors and git settings.

Usage: make_migrations.py DIR

tests/lint_golden/make_migrations.py
"""
import os
import sys

FILES = {
    "0001_accounts.sql":
        "-- the accounts\n"
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text, note text, n int);\n"
        "CREATE TABLE IF NOT EXISTS events (id bigint, at timestamptz);\n",
    "0002_index.sql":
        "/* an index in a migration */\n"
        "CREATE INDEX accounts_email ON accounts (email);\n"
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS accounts_n ON accounts (n);\n",
    "0003_drop.sql":
        "ALTER TABLE accounts DROP COLUMN note;\n"
        "-- migrator:allow drop-column\n"
        "ALTER TABLE accounts DROP COLUMN n;\n"
        "-- migrator:allow drop-table\n"
        "-- migrator:allow drop-column\n"
        "ALTER TABLE events DROP COLUMN at;\n"
        "DROP TABLE events;\n",
    "0004_dml.sql":
        "INSERT INTO accounts (id) VALUES (1);\n"
        "UPDATE accounts SET email = 'a--b' WHERE id = 1 -- trailing comment\n"
        ";\n"
        "DELETE FROM accounts /* why */ WHERE id = 2 /* done */;\n"
        "COPY accounts FROM STDIN;\n"
        "TRUNCATE accounts;\n",
    "0005_session.sql":
        "SET search_path TO other;\n"
        "SET statement_timeout = 0;\n"
        "SET LOCAL lock_timeout = '0';\n"
        "SET LOCAL statement_timeout = '1h';\n"
        "SET LOCAL lock_timeout TO DEFAULT;\n"
        "RESET ALL;\n"
        "RESET work_mem;\n"
        "SET ROLE admin;\n"
        "DISCARD ALL;\n"
        "BEGIN;\n"
        "COMMIT;\n"
        "SAVEPOINT s;\n"
        "SELECT pg_advisory_unlock_all();\n"
        "SELECT set_config('search_path', 'x', false), set_config('work_mem', '1MB', NULL);\n"
        "SELECT set_config('lock_timeout', '10min', true);\n",
    "0006_do.sql":
        "DO $body$\n"
        "BEGIN\n"
        "  RAISE NOTICE 'a; b';\n"
        "  UPDATE accounts SET email = NULL;\n"
        "  EXECUTE 'SET search_path TO x';\n"
        "  EXECUTE format('SET search_path TO %I', 'y');\n"
        "  EXECUTE 'SET ' || 'work_mem = 1';\n"
        "  PERFORM pg_advisory_unlock_all();\n"
        "EXCEPTION WHEN others THEN\n"
        "  NULL;\n"
        "END\n"
        "$body$;\n"
        "DO 'BEGIN CREATE INDEX ON accounts (email); END';\n"
        "DO LANGUAGE plpgsql $$ BEGIN BEGIN DELETE FROM accounts; EXCEPTION WHEN unique_violation THEN RAISE; END; END $$;\n",
    "0007_defaults.sql":
        "ALTER TABLE accounts ADD COLUMN created timestamptz DEFAULT clock_timestamp();\n"
        "ALTER TABLE accounts ADD COLUMN r float8 DEFAULT random(), ADD COLUMN u uuid DEFAULT gen_random_uuid();\n"
        "ALTER TABLE accounts ADD COLUMN t timestamptz NOT NULL DEFAULT now();\n"
        "CREATE TABLE fresh (id int, at timestamptz DEFAULT clock_timestamp());\n"
        "ALTER TABLE fresh ADD COLUMN z float8 DEFAULT random();\n",
    "0008_alter.sql":
        "ALTER TABLE accounts ALTER COLUMN id TYPE int;\n"
        "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;\n"
        "ALTER TABLE accounts ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE accounts VALIDATE CONSTRAINT email_nn;\n"
        "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;\n"
        "ALTER TABLE accounts ADD CONSTRAINT email_u UNIQUE (email);\n"
        "ALTER TABLE accounts ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES other (id);\n"
        "ALTER TABLE accounts ADD CONSTRAINT pk PRIMARY KEY USING INDEX wrong_name;\n"
        "ALTER TABLE accounts SET TABLESPACE slow;\n"
        "ALTER TABLE accounts RENAME COLUMN email TO mail;\n"
        "ALTER TABLE accounts RENAME TO users;\n"
        "DROP INDEX accounts_email;\n"
        "REINDEX TABLE accounts;\n"
        "VACUUM FULL accounts;\n"
        "CLUSTER accounts USING accounts_pkey;\n",
    "0009_notx.sql":
        "-- migrator:no-transaction\n"
        "CREATE TABLE plain (id int);\n"
        "CREATE SCHEMA s CREATE TABLE inner_t (id int);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS plain_id ON plain (id);\n"
        "SET lock_timeout = '1s';\n"
        "DROP TABLE IF EXISTS gone;\n",
    "0010_syntax.sql":
        "CREATE TABLE ok_before (id int);\n"
        "\n"
        "ON accounts (email);\n",
    "0011_comments_only.sql":
        "-- nothing but comments\n"
        "/* and a block */\n",
    "0012_allow_unknown.sql":
        "-- migrator:allow no-such-rule\n"
        "CREATE TABLE u1 (id int);\n"
        "CREATE TABLE u2 (id int); -- migrator:allow\n"
        "CREATE TABLE u3 (id int); -- migrator:allow drop-table\n"
        "COMMENT ON TABLE u3 IS '-- migrator:allow nothing';\n",
    "0013_bom_crlf.sql":
        "\ufeff-- BOM, CRLF\r\n"
        "/* block /* nested */ still */ CREATE TABLE b1 (id int);\r\n"
        "\tINSERT INTO b1 VALUES (1);\r\n"
        "\r\n"
        "UPDATE b1 SET id = 2 /* trailing */ ;\r\n",
    "0014_verified.sql":
        "CREATE TABLE v1 (id int);\n",
    "0014_verified.verify.sql":
        "SELECT count(*) = 0 FROM v1;\n"
        "SELECT nextval('seq');\n"
        "SELECT 1 FROM v1 FOR UPDATE;\n",
    "0015_bad_verify.sql":
        "CREATE TABLE v2 (id int);\n",
    "0015_bad_verify.verify.sql":
        "SELECT 1;\n"
        "INSERT INTO v2 VALUES (1);\n",
    "0016_ctl_space.sql":
        "CREATE TABLE w1 (id int);\v\fINSERT INTO w1 VALUES (1);\f\n"
        "\v  INSERT INTO w1 VALUES (2);\n"
        ";;  INSERT INTO w1 VALUES (3);;\n"
        "INSERT INTO w1 VALUES (U&'d\\0061t\\+000061')\n",
    "0017_function.sql":
        "CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        "BEGIN\n"
        "  -- migrator:allow dml\n"
        "  UPDATE accounts SET n = 1;\n"
        "  RETURN NEW;\n"
        "EXCEPTION WHEN others THEN RETURN NULL;\n"
        "END\n"
        "$fn$;\n"
        "CREATE VIEW vv AS SELECT pg_advisory_unlock_all();\n"
        "COMMENT ON TABLE accounts IS 'x -- y' -- and a comment\n"
        "/* and another */ ;\n",
    "0018_allow_dml.sql":
        "-- migrator:allow-dml\n"
        "INSERT INTO accounts (id) VALUES (3);\n"
        "UPDATE accounts SET n = 2 WHERE id = 3\n",
    "0019_unterminated.sql":
        "CREATE TABLE q (id int);\n"
        "COMMENT ON TABLE q IS 'never closed;\n",
    "0020_explain.sql":
        "EXPLAIN ANALYZE DELETE FROM accounts;\n"
        "PREPARE p AS UPDATE accounts SET n = 0;\n"
        "EXPLAIN SELECT 1;\n",
    "0021_formfeed.sql":
        "CREATE TABLE w2 (id int);\f\fINSERT INTO w2 VALUES (1);\f\n"
        "\f  INSERT INTO w2 VALUES (2);\n"
        ";;  INSERT INTO w2 VALUES (3);;\n"
        "INSERT INTO w2 VALUES (U&'d\\0061t\\+000061') /* no semicolon */\n",
    "0022_tail.sql":
        "CREATE TABLE w3 (id int);\n"
        "INSERT INTO w3 VALUES (1) -- a comment, then the end\n"
        "\n",
}


def big_files():
    """Files larger than the parser's fast path: the full path with its lexer."""
    out = {}
    lines = ["-- a long file\n"]
    for i in range(400):
        lines.append("CREATE TABLE big_%d (id bigint PRIMARY KEY, name text NOT NULL); -- %d\n" % (i, i))
    lines.append("ALTER TABLE accounts DROP COLUMN mail;\n")
    lines.append("INSERT INTO big_1 VALUES (1, 'x') /* end */\n")
    out["0030_big.sql"] = "".join(lines)
    # too long an operator chain: refused before the parser runs
    out["0031_chain.sql"] = "CREATE TABLE c (id int);\nSELECT 'a'" + " || 'a'" * 6000 + ";\n"
    # a small file, just under the fast path's size, with a finding at its end
    body = "CREATE TABLE edge (id int);\n" + "-- padding padding padding padding padding\n" * 225
    out["0032_edge.sql"] = body + "DROP TABLE accounts;\n"
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    files = dict(FILES)
    files.update(big_files())
    for name, text in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(text.encode("utf-8"))


if __name__ == "__main__":
    main()
