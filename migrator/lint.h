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
 * The rules, each with its name, severity, whether an allow comment can
 * excuse it, what it fires on and what to do instead, are one table:
 * lint_rules[] in lint_rules.h / lint_rules.c (the registry).  The README's
 * lint tables follow it (tests/unit/lint_rules_test.c checks that they
 * agree).  Where each rule is checked: lint_internal.h lists the modules.
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

#include "memory.h"
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
	int           cap; /* allocated length of items (memory.h) */
	int           n_errors;
	int           n_warnings;
} lint_result;

/*
 * The CHECK and FOREIGN KEY constraints earlier files of the directory
 * added (and whether they are validated), so that set-not-null accepts a
 * CHECK (col IS NOT NULL) validated in an earlier migration, and a
 * VALIDATE of a constraint added in an earlier one is not the same-migration
 * shape.  Lint the files in version order with one carry.
 */
typedef struct lint_carry lint_carry;

/* A new, empty carry; lint_carry_free accepts NULL.  lint_alter.c. */
lint_carry *lint_carry_new(void);
void        lint_carry_free(lint_carry *carry);

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
	/*
	 * NULL, or what earlier files added: read by lint_script, which then
	 * adds this file's constraints to it (lint_verify_script ignores it).
	 */
	lint_carry *carry;
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
 * True if name is a rule that "-- migrator:allow RULE" accepts: every rule
 * of the registry but "unknown-rule".  NULL gives false.
 */
bool lint_rule_exists(const char *name);

/*
 * GitHub Actions workflow commands ("::error file=F,line=L,col=C,title=T::M"),
 * escaped exactly as the runner unescapes them: in the message (data) '%'
 * becomes %25, CR %0D, LF %0A; in a property value also ':' %3A and ','
 * %2C.  Append to sb; NULL s appends nothing.  lint_report.c.
 */
void lint_github_escape_data(textbuf *sb, const char *s);
void lint_github_escape_property(textbuf *sb, const char *s);

/* Free the findings and leave r zeroed.  Accepts NULL. */
void lint_result_free(lint_result *r);

#endif /* TOOLKIT_LINT_H */
