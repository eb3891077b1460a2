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
 *                            set_config(..., false), set_config(..., NULL)
 *                            (NULL is false) or with a third argument that
 *                            is not a constant; also through EXECUTE.
 *                            RESET ALL and search_path (or a setting whose
 *                            name is computed) cannot be excused: every
 *                            later migration of the run would inherit them
 *   discard               E  DISCARD
 *   set-role              E  SET [LOCAL] ROLE, SET [LOCAL] SESSION
 *                            AUTHORIZATION, RESET ROLE, set_config('role',
 *                            ...) local or not (setting names compared
 *                            case-insensitively, as the server does);
 *                            cannot be excused
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
 *                            parser cannot read, a DO block in another
 *                            language; in a verify file, a function not
 *                            known to be stable or immutable
 *   swallowed-error       E  a PL/pgSQL exception handler (DO block) that can
 *                            catch lock_not_available (55P03, or its class
 *                            55000), a class 40 error (deadlock_detected,
 *                            serialization_failure, ...) or a class 57 error
 *                            (query_canceled, admin_shutdown, ...), through
 *                            OTHERS, a condition name, SQLSTATE 'xxxxx' or a
 *                            class code ('40000'), and whose last statement
 *                            is not RAISE (at EXCEPTION level)
 *   timeout-override      W  SET [LOCAL] lock_timeout / statement_timeout, or
 *                            set_config() of them, to more than the run's
 *                            bound (lint_file_options), to DEFAULT or to a
 *                            value that cannot be read; to anything when the
 *                            bound is not known (the operator's own)
 *                         E  ... to 0 however spelt ('0', '0s', '0.1ms'
 *                            rounds to 0): it removes the bound
 *   verify-read-only      E  in a verify file (lint_verify_script only): a
 *                            statement that is not a SELECT, a data-modifying
 *                            WITH, SELECT INTO, FOR UPDATE / SHARE, a call of
 *                            a function PostgreSQL lists as volatile
 *                            (set_config, nextval, pg_terminate_backend, ...);
 *                            cannot be excused
 *   unknown-rule          E  "-- migrator:allow RULE" naming no rule; cannot
 *                            itself be excused, so not in lint_rule_names
 *
 * Session rules through EXECUTE: a constant string is checked as SQL; a
 * computed one (format('SET search_path TO %I', s), 'SET ' || x) is also
 * checked with its computed parts replaced by a placeholder, so a session
 * SET built at run time is still found (and unchecked-sql reported too).
 *
 * Bodies of functions and procedures the migration creates are not read:
 * they are stored code that runs later, where catching
 * serialization_failure around a retry loop is the right shape.
 *
 * DO blocks in PL/pgSQL are parsed (libpg_query's PL/pgSQL parser) and every
 * SQL statement and expression inside is checked by the same rules; the
 * finding points at the line of the statement inside the body when the body
 * is a dollar-quoted or plain '...' string, else at the DO statement.
 *
 * Everything here is offline: no server, no printing.
 *
 * migrator/lint.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_LINT_H
#define TOOLKIT_LINT_H

#include <stdbool.h>
#include <stdint.h>

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
	/*
	 * The run's bounds, for timeout-override: when known, a SET LOCAL at or
	 * below the bound is fine (0 here means the run sets none); when not
	 * known (false, the default), any value is reported.
	 */
	bool    lock_timeout_known;
	int64_t lock_timeout_ms;
	bool    statement_timeout_known;
	int64_t statement_timeout_ms;
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
 * Check a verify file (parsed from source) with the verify-read-only rules
 * only: a verify file must not change anything.  As lint_script otherwise:
 * appends sorted findings to *out, honours allow comments (which cannot
 * excuse verify-read-only), opts may be NULL (only strict is read).
 */
void lint_verify_script(const char *source, const sql_script *script, const lint_file_options *opts,
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
