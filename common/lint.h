/*-------------------------------------------------------------------------
 *
 * lint.h
 *	  Reading a migration with PostgreSQL's parser before it runs:
 *	  DDL-only and lock-safety rules.
 *
 * A migration must be DDL only, must not build indexes (they belong to the
 * indexer), must not touch the migrator's own session, and should avoid
 * statements that rewrite or lock whole tables.  Each rule has a stable name,
 * a severity, a one-line reason and the safe alternative.
 *
 * Errors refuse the file.  Warnings let it run (--strict makes them errors).
 * A statement is excused from one rule by a comment line directly above it:
 *     -- migrator:allow RULE
 * never for the whole file.  File-wide directives live in the leading
 * comment block: -- migrator:no-transaction, -- migrator:allow-dml,
 * -- migrator:requires-index NAME.
 *
 * The rules (E error, W warning; "new table": created by CREATE TABLE earlier
 * in the same file, so empty, and exempt where marked *):
 *   create-index          E  CREATE INDEX of any kind, except a plain (not
 *                            CONCURRENTLY) one on a new table
 *   reindex               E  REINDEX
 *   vacuum-full           E  VACUUM FULL (plain VACUUM and ANALYZE are fine)
 *   cluster               E  CLUSTER
 *   dml                   E  unless allow_dml: INSERT, UPDATE, DELETE, MERGE,
 *                            COPY, TRUNCATE, CREATE TABLE AS / SELECT INTO /
 *                            CREATE MATERIALIZED VIEW (unless WITH NO DATA),
 *                            a data-modifying WITH, REFRESH MATERIALIZED VIEW,
 *                            CALL, EXPLAIN ANALYZE of any of these
 *   transaction-control   E  BEGIN, START TRANSACTION, COMMIT, ROLLBACK,
 *                            SAVEPOINT, RELEASE, PREPARE TRANSACTION, ... and
 *                            COMMIT/ROLLBACK inside a DO block
 *   session-set           E  SET without LOCAL, RESET, RESET ALL,
 *                            set_config(..., false)
 *   discard               E  DISCARD
 *   set-role              E  SET [LOCAL] ROLE, SET [LOCAL] SESSION
 *                            AUTHORIZATION, RESET ROLE, set_config('role', ...)
 *   advisory-unlock-all   E  a call of pg_advisory_unlock_all()
 *   volatile-default      W* ADD COLUMN with a volatile default (a function
 *                            not known to be immutable or stable; serial,
 *                            identity), or GENERATED ... STORED
 *   alter-column-type     W* ALTER COLUMN ... TYPE
 *   set-not-null          W* SET NOT NULL without a validated
 *                            CHECK (col IS NOT NULL) earlier in the file
 *   constraint-not-valid  W* ADD FOREIGN KEY / CHECK without NOT VALID
 *   unique-without-index  W* ADD PRIMARY KEY / UNIQUE without USING INDEX
 *   constraint-index-name E  ADD CONSTRAINT c ... USING INDEX i with c other
 *                            than i: PostgreSQL renames the index to c, and
 *                            the indexer, which defines i, would build it again
 *   drop-index            W* DROP INDEX without CONCURRENTLY
 *   set-tablespace        W* SET TABLESPACE, ALTER TABLE ALL IN TABLESPACE
 *   drop-column           W* DROP COLUMN
 *   drop-table            W* DROP TABLE
 *   rename                W* RENAME of a table, view, materialized view,
 *                            foreign table or column
 *   not-idempotent        W  only in no-transaction files: a top-level
 *                            statement a rerun fails on (CREATE without IF
 *                            NOT EXISTS / OR REPLACE, DROP without IF EXISTS,
 *                            ...; the exact list is in lint.c)
 *   unchecked-sql         W  SQL that cannot be checked before it runs: EXECUTE
 *                            of a computed string, a DO body the PL/pgSQL
 *                            parser cannot read, a DO block in another language
 *   unknown-rule          E  "-- migrator:allow RULE" naming no rule; cannot
 *                            itself be excused, so not in lint_rule_names
 *
 * DO blocks in PL/pgSQL are parsed (libpg_query's PL/pgSQL parser) and every
 * SQL statement and expression inside is checked by the same rules; the
 * finding points at the line of the statement inside the body when the body
 * is a dollar-quoted or plain '...' string, else at the DO statement.
 *
 * Everything here is offline: no server, no printing.
 *
 * common/lint.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_LINT_H
#define TOOLKIT_LINT_H

#include <stdbool.h>

#include "sqlparse.h"

typedef enum lint_severity
{
	LINT_WARNING,
	LINT_ERROR
} lint_severity;

typedef struct lint_finding
{
	const char   *rule;     /* stable name, e.g. "create-index"; static */
	lint_severity severity; /* after --strict and allow comments */
	int           line;     /* 1-based, of the statement (or of the
								 * nested statement inside a DO body when
								 * known) */
	int           column;   /* 1-based, in bytes, as sql_statement's */
	char         *message;  /* one line: reason; safe alternative */
} lint_finding;

typedef struct lint_result
{
	lint_finding *items; /* in source order */
	int           n;
	int           n_errors;
	int           n_warnings;
} lint_result;

/* What the file's directives say (read by the caller from its header). */
typedef struct lint_file_options
{
	bool        no_transaction; /* -- migrator:no-transaction */
	bool        allow_dml;      /* -- migrator:allow-dml */
	bool        strict;         /* --strict: warnings become errors */
	const char *schema;         /* the session's search_path schema, which
								 * unqualified names are taken to be in when
								 * matching "a table created earlier";
								 * NULL means "public" */
} lint_file_options;

/*
 * Check every statement of script (parsed from source, which is needed for
 * the allow comments and to place findings inside DO bodies).  Appends
 * findings to *out (which must be zeroed or hold earlier findings); the new
 * ones are sorted by line and column, after the earlier ones.  A finding
 * excused by "-- migrator:allow RULE" is dropped, not reported.  opts may be
 * NULL (all false).  Never fails, never prints; allocation failure exits
 * (memory.h).
 */
void lint_script(const char *source, const sql_script *script, const lint_file_options *opts,
				 lint_result *out);

/*
 * The rule names that "-- migrator:allow RULE" accepts (every rule but
 * "unknown-rule"), NULL-terminated, in the order of the table above.
 */
extern const char *const lint_rule_names[];

/* True if name is in lint_rule_names.  NULL gives false. */
bool lint_rule_exists(const char *name);

/* Free the findings and leave r zeroed.  Accepts NULL. */
void lint_result_free(lint_result *r);

#endif /* TOOLKIT_LINT_H */
