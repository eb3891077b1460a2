/*-------------------------------------------------------------------------
 *
 * lint_rules.c
 *	  The lint rule registry: one table, the policy of every rule.
 *
 * "New table" below: created by CREATE TABLE earlier in the same file, so
 * empty; the rules whose fires_on says so do not apply to it.
 *
 * migrator/lint_rules.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_rules.h"

#include <string.h>

#define E LINT_ERROR
#define W LINT_WARNING

/* See lint_rules.h.  Designated initializers: the order is the enum's. */
const lint_rule lint_rules[LINT_N_RULES] = {
	[LINT_R_CREATE_INDEX] = {"create-index", E, true, true,
							 "CREATE INDEX of any kind, except a plain (not CONCURRENTLY) one on a new table",
							 "a definition in conf/indexes.cfg (the indexer builds it online); "
							 "-- migrator:requires-index NAME when a migration needs it first",
							 "lint_ddl.c", .lock = "plain:ShareLock"},
	[LINT_R_REINDEX] = {"reindex", E, true, true, "REINDEX", "REINDEX ... CONCURRENTLY outside migrations",
						"lint_ddl.c", .lock = "table:ShareLock"},
	[LINT_R_VACUUM_FULL] = {"vacuum-full", E, true, true, "VACUUM FULL (plain VACUUM and ANALYZE are fine)",
							"run it outside migrations, in a maintenance window", "lint_ddl.c",
							.lock = "full:AccessExclusiveLock"},
	[LINT_R_CLUSTER] = {"cluster", E, true, true, "CLUSTER",
						"run it outside migrations, in a maintenance window", "lint_ddl.c",
						.lock = "using:AccessExclusiveLock"},
	[LINT_R_DML] =
		{"dml", E, true, true,
		 "unless allow_dml: INSERT, UPDATE, DELETE, MERGE, COPY, TRUNCATE, CREATE TABLE AS / SELECT "
		 "INTO / CREATE MATERIALIZED VIEW (unless WITH NO DATA), a data-modifying WITH, REFRESH "
		 "MATERIALIZED VIEW, CALL, EXPLAIN ANALYZE of any of these",
		 "a batched backfill job; or -- migrator:allow-dml for small reference data", "lint_ddl.c",
		 .lock = NULL},
	/* COPY from or to the client needs data that a migration does not carry */
	[LINT_R_COPY_STDIO] =
		{"copy-stdio", E, false, true,
		 "COPY FROM STDIN, COPY TO STDOUT (not even allow-dml lets them through); cannot be "
		 "excused",
		 "load data with a separate job", "lint_ddl.c", .lock = NULL},
	/* a COMMIT or ROLLBACK ends the migration's transaction: the history row lands outside it */
	[LINT_R_TRANSACTION] =
		{"transaction-control", E, false, true,
		 "BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, PREPARE TRANSACTION, "
		 "... and COMMIT/ROLLBACK inside a DO block; cannot be excused",
		 "remove it: the migrator commits each file itself (-- migrator:no-transaction runs a "
		 "file statement by statement)",
		 "lint_session.c", .lock = NULL},
	[LINT_R_SESSION_SET] =
		{"session-set", E, true, true,
		 "SET without LOCAL, RESET, RESET ALL, set_config(..., false), set_config(..., NULL) "
		 "(NULL is false) or with a third argument that is not a constant; also through "
		 "EXECUTE.  RESET ALL and search_path (or a setting whose name is computed) cannot be "
		 "excused: every later migration of the run would inherit them",
		 "SET LOCAL, set_config(..., true)", "lint_session.c", .lock = NULL},
	[LINT_R_DISCARD] = {"discard", E, true, true, "DISCARD", "remove it", "lint_session.c", .lock = NULL},
	[LINT_R_SET_ROLE] =
		{"set-role", E, false, true,
		 "SET [LOCAL] ROLE, SET [LOCAL] SESSION AUTHORIZATION, RESET ROLE, set_config('role', "
		 "...) local or not (setting names compared case-insensitively, as the server does); "
		 "cannot be excused",
		 "the migrator's --role option", "lint_session.c", .lock = NULL},
	[LINT_R_UNLOCK_ALL] = {"advisory-unlock-all", E, true, true, "a call of pg_advisory_unlock_all()",
						   "release the advisory locks you took one by one with pg_advisory_unlock()",
						   "lint_session.c", .lock = NULL},
	[LINT_R_VOLATILE_DEFAULT] =
		{"volatile-default", W, true, true,
		 "ADD COLUMN to an existing table with a volatile default (a function not known "
		 "to be immutable or stable; serial, identity), or GENERATED ... STORED",
		 "add the column without a default, SET DEFAULT, backfill in batches", "lint_alter.c",
		 .lock = "default:AccessExclusiveLock"},
	[LINT_R_ALTER_TYPE] = {"alter-column-type", W, true, true, "ALTER COLUMN ... TYPE on an existing table",
						   "a new column and a backfill", "lint_alter.c", .lock = "type:AccessExclusiveLock"},
	[LINT_R_SET_NOT_NULL] =
		{"set-not-null", W, true, true,
		 "SET NOT NULL on an existing table without a validated CHECK (col IS NOT NULL) "
		 "earlier in the file or in an earlier file of the directory",
		 "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later "
		 "migration, then SET NOT NULL",
		 "lint_alter.c", .lock = "scan:AccessExclusiveLock"},
	[LINT_R_NOT_VALID] = {"constraint-not-valid", W, true, true,
						  "ADD FOREIGN KEY / CHECK on an existing table without NOT VALID",
						  "NOT VALID, then VALIDATE CONSTRAINT in a later migration", "lint_alter.c",
						  .lock = "check:AccessExclusiveLock fk:ShareRowExclusiveLock"},
	/* one transaction: the ADD's lock is held until COMMIT, through the scan */
	[LINT_R_VALIDATE_SAME] =
		{"validate-same-migration", W, true, true,
		 "VALIDATE CONSTRAINT in the transactional migration that added the constraint NOT VALID "
		 "to an existing table: the ADD's lock (ACCESS EXCLUSIVE for a CHECK, SHARE ROW EXCLUSIVE "
		 "on both tables for a FOREIGN KEY) is held during the whole validation scan",
		 "validate in a later migration", "lint_alter.c",
		 .lock = "check:AccessExclusiveLock fk:ShareRowExclusiveLock"},
	[LINT_R_UNIQUE_NO_INDEX] =
		{"unique-without-index", W, true, true,
		 "ADD PRIMARY KEY / UNIQUE on an existing table without USING INDEX",
		 "build the unique index with the indexer, then ADD CONSTRAINT ... USING INDEX", "lint_alter.c",
		 .lock = "unique:AccessExclusiveLock"},
	[LINT_R_CONSTRAINT_INDEX] =
		{"constraint-index-name", E, true, true,
		 "ADD CONSTRAINT c ... USING INDEX i with c other than i: PostgreSQL renames the "
		 "index to c, and the indexer, which defines i, would build it again",
		 "ADD CONSTRAINT i ... USING INDEX i", "lint_alter.c", .lock = NULL},
	[LINT_R_DROP_INDEX] = {"drop-index", W, true, true,
						   "DROP INDEX without CONCURRENTLY of an index that is not new",
						   "state = \"absent\" in conf/indexes.cfg", "lint_ddl.c",
						   .lock = "drop:AccessExclusiveLock"},
	[LINT_R_SET_TABLESPACE] = {"set-tablespace", W, true, true,
							   "SET TABLESPACE of an existing relation, ALTER TABLE ALL IN TABLESPACE",
							   "move it outside migrations, in a maintenance window", "lint_alter.c",
							   .lock = "move:AccessExclusiveLock"},
	[LINT_R_DROP_COLUMN] = {"drop-column", W, true, true, "DROP COLUMN of an existing table",
							"expand and contract across releases", "lint_alter.c", .lock = NULL},
	[LINT_R_DROP_TABLE] = {"drop-table", W, true, true, "DROP TABLE of an existing table",
						   "expand and contract across releases", "lint_ddl.c", .lock = NULL},
	[LINT_R_RENAME] = {"rename", W, true, true,
					   "RENAME of an existing table, view, materialized view, foreign table or column",
					   "expand and contract across releases", "lint_ddl.c", .lock = NULL},
	[LINT_R_NOT_IDEMPOTENT] =
		{"not-idempotent", W, true, true,
		 "only in no-transaction files: a top-level statement a rerun fails on (CREATE "
		 "without IF NOT EXISTS / OR REPLACE, DROP without IF EXISTS, ...; the exact list is "
		 "in lint_ddl.c)",
		 "IF [NOT] EXISTS, OR REPLACE", "lint_ddl.c", .lock = NULL},
	[LINT_R_UNCHECKED] =
		{"unchecked-sql", W, true, true,
		 "SQL that cannot be checked before it runs: EXECUTE of a computed string, a DO body the "
		 "PL/pgSQL parser cannot read, a DO block in another language; in a verify file, a "
		 "function not known to be stable or immutable.  An error when SQL in a DO block "
		 "breaks a parser limit or its blocks nest too deeply",
		 "review by hand; split what is too deep", "lint_plpgsql.c", .lock = NULL},
	[LINT_R_SWALLOWED] = {"swallowed-error", E, true, true,
						  "a PL/pgSQL exception handler (DO block) that can catch lock_not_available (55P03, "
						  "or its class 55000), a class 40 error (deadlock_detected, serialization_failure, "
						  "...) or a class 57 error (query_canceled, admin_shutdown, ...), through OTHERS, a "
						  "condition name, SQLSTATE 'xxxxx' or a class code ('40000'), and whose last "
						  "statement is not RAISE (at EXCEPTION level)",
						  "avoid the error instead of catching it, or end the handler with RAISE;",
						  "lint_handlers.c", .lock = NULL},
	[LINT_R_TIMEOUT] =
		{"timeout-override", W, true, true,
		 "SET [LOCAL] lock_timeout / statement_timeout, or set_config() of them, to more than "
		 "the run's bound (lint_file_options), to DEFAULT or to a value that cannot be read; to "
		 "anything when the bound is not known (the operator's own).  An error for 0 however "
		 "spelt ('0', '0s', '0.1ms' rounds to 0): it removes the bound",
		 "give the run a larger --lock-timeout / --statement-timeout", "lint_session.c", .lock = NULL},
	/* a verify file that changes something is not a check */
	[LINT_R_VERIFY] =
		{"verify-read-only", E, false, true,
		 "in a verify file (lint_verify_script only): a statement that is not a SELECT, a "
		 "data-modifying WITH, SELECT INTO, FOR UPDATE / SHARE, a call of a function PostgreSQL "
		 "lists as volatile (set_config, nextval, pg_terminate_backend, ...); cannot be excused",
		 "a plain SELECT of stable or immutable functions", "lint_verify.c", .lock = NULL},
	/* what plan and up would refuse before anything is applied: lint says it first */
	[LINT_R_REQUIRES_INDEX] =
		{"requires-index", E, false, true,
		 "\"-- migrator:requires-index NAME\" naming no definition in the index definitions file "
		 "(--index-config, $INDEXER_CONFIG, else conf/indexes.cfg when it exists), or one with "
		 "state \"absent\"; cannot be excused",
		 "define the index in the index definitions file, or fix the name", "migration_lint.c", .lock = NULL},
	[LINT_R_UNKNOWN_RULE] = {"unknown-rule", E, false, false,
							 "\"-- migrator:allow RULE\" naming no rule, or no rule at all; cannot itself be "
							 "excused, nor named in an allow comment",
							 "name one rule that lint reports, e.g. -- migrator:allow drop-column",
							 "lint_report.c", .lock = NULL},
};

/* See lint_rules.h. */
int
lint_rule_lookup(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < LINT_N_RULES; i++)
		if (lint_rules[i].nameable && strcmp(lint_rules[i].name, name) == 0)
			return i;
	return -1;
}

/* See lint.h. */
bool
lint_rule_exists(const char *name)
{
	return lint_rule_lookup(name) >= 0;
}
