/*-------------------------------------------------------------------------
 *
 * lint_internal.h
 *	  What the lint modules share: the state of one lint call, the
 *	  statement being checked, reporting, and the parse-tree helpers.
 *
 * Not for use outside the lint (lint.h is its interface).  The modules:
 *   lint.c          entry points, the statement dispatcher
 *   lint_rules.c    the rule registry (lint_rules.h)
 *   lint_report.c   findings, the line index, allow comments
 *   lint_tree.c     names and parse-tree helpers
 *   lint_ddl.c      DDL and data statements
 *   lint_alter.c    ALTER TABLE on existing tables
 *   lint_session.c  the migrator's session and transaction
 *   lint_plpgsql.c  DO blocks (lint_plpgsql.h), with lint_execute.c and
 *                   lint_handlers.c
 *   lint_verify.c   verify files
 * Each checker reports through lint_report() with a rule id; the registry
 * gives the severity and whether an allow comment can excuse it.  Nothing
 * here prints or fails; allocation failure exits (memory.h).
 *
 * migrator/lint_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_LINT_INTERNAL_H
#define TOOLKIT_LINT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "lint.h"
#include "lint_rules.h"
#include "memory.h"
#include "sqlparse.h"

/* A relation name with its schema resolved (never empty). */
typedef struct qual_name
{
	char *schema;
	char *name;
} qual_name;

/*
 * A CHECK or FOREIGN KEY constraint added earlier in the file, or in an
 * earlier file of the directory (lint_carry).  column is the column a
 * CHECK (column IS NOT NULL) proves, "" for any other constraint.
 */
typedef struct not_null_check
{
	qual_name rel;
	char     *conname; /* given, or PostgreSQL's default name */
	char     *column;
	bool      validated;      /* added without NOT VALID, or validated */
	bool      not_valid_here; /* added NOT VALID to an existing table in
								 * this file: validating it here keeps the
								 * ADD's lock during the scan */
	char     *pktable;        /* a foreign key's referenced table, quoted; else NULL */
} not_null_check;

/* What earlier files of the directory added (lint.h); lint_alter.c. */
struct lint_carry
{
	not_null_check *checks;
	int             n;
	int             cap;
};

/* A "-- migrator:allow RULE" comment alone on its line. */
typedef struct allow_line
{
	int line;
	int rule; /* lint_rule_id; -1 if unknown */
} allow_line;

/* Everything one lint_script() call knows. */
typedef struct lint_state
{
	const char     *source; /* the whole file, BOM included */
	int             bom_len;
	const char     *schema; /* for unqualified names */
	bool            no_transaction;
	bool            allow_dml;
	bool            strict;
	bool            lock_timeout_known; /* the run's bounds (lint.h) */
	int64_t         lock_timeout_ms;
	bool            statement_timeout_known;
	int64_t         statement_timeout_ms;
	lint_result    *out;
	int             first_new; /* out->items[first_new..] are this file's */
	qual_name      *created;   /* relations (tables, indexes) created here */
	int             n_created;
	int             cap_created; /* allocated lengths (memory.h) */
	not_null_check *checks;
	int             n_checks;
	int             cap_checks;
	allow_line     *allows;
	int             n_allows;
	int             cap_allows;
	int            *line_starts; /* byte offset of each line (index 0 is line
								 * 1, after any BOM), built once: every
								 * offset-to-line lookup is a binary search,
								 * not a scan from the top of the file */
	int             n_lines;
} lint_state;

/* The statement being checked: where its findings point, what excuses them. */
typedef struct stmt_ctx
{
	int         line; /* where findings point */
	int         column;
	int         stmt_line;   /* first line of the top-level statement */
	int         nested_line; /* first line inside a DO body; 0 unknown */
	const char *text;        /* the text node locations count in (the
								 * file after its BOM); NULL when nested */
	int         depth;       /* DO blocks around the statement */
} stmt_ctx;

/*
 * The checker of one statement kind: a row of a module's table, which
 * lint.c dispatches on; a table ends with a NULL check.
 */
typedef void (*lint_node_check)(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node);

typedef struct lint_stmt_check
{
	PgQuery__Node__NodeCase kind;
	lint_node_check         check;
} lint_stmt_check;

extern const lint_stmt_check lint_ddl_checks[];     /* lint_ddl.c */
extern const lint_stmt_check lint_alter_checks[];   /* lint_alter.c */
extern const lint_stmt_check lint_session_checks[]; /* lint_session.c */

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- lint.c ------------------------------------------------------------ */

/*
 * Judge one statement: its kind's checker, then every function call in it.
 * Recursion is bounded (see lint.c).
 */
void lint_check_node(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node);

/* ---- lint_report.c: findings ------------------------------------------- */

/*
 * Report rule for the statement of ctx with the registry's severity, unless
 * an allow comment above it excuses it (and the registry says it can be
 * excused).  Warnings become errors under --strict.  The message is
 * prefixed "in a DO block, " inside one.
 */
void lint_report(lint_state *st, const stmt_ctx *ctx, lint_rule_id rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* As lint_report, but an error whatever the registry's severity. */
void lint_report_error(lint_state *st, const stmt_ctx *ctx, lint_rule_id rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * An error no allow comment excuses, for a change to the session that every
 * later migration of the run would inherit: the role, search_path, RESET
 * ALL.  (The run also re-establishes its session before each migration;
 * lint stops the file before anything runs.)
 */
void lint_report_fixed(lint_state *st, const stmt_ctx *ctx, lint_rule_id rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Index the line starts of st->source (LF, CRLF and a lone CR end lines). */
void lint_index_lines(lint_state *st);

/* Byte offset in source of the start of 1-based line (the end if past it). */
int lint_line_start_offset(const lint_state *st, int line);

/* 1-based line and byte column of a file offset, as sql_offset_to_line_col. */
void lint_offset_line_col(const lint_state *st, int off, int *line, int *column);

/*
 * Find the "--" comments of text, which stands in the file at byte offset
 * file_off, with PostgreSQL's lexer; remember the allow comments alone on
 * their line, and report those naming no rule (unknown-rule).
 */
void lint_collect_allow_comments(lint_state *st, const char *text, int file_off);

/* Stable sort of r->items[from..n) by line, then column. */
void lint_sort_findings(lint_result *r, int from);

/* ---- lint_tree.c: names and parse-tree helpers ------------------------- */

/* "schema"."name" (schema only if given), for messages; caller frees. */
char *lint_quote_name(const char *schema, const char *name);
/* the same for a RangeVar ("?" if NULL); caller frees */
char *lint_quote_rangevar(const PgQuery__RangeVar *rv);
/* schema, or the state's schema when schema is NULL or empty */
const char *lint_resolve_schema(const lint_state *st, const char *schema);
/* The string of a String node, or NULL. */
const char *lint_node_string(const PgQuery__Node *n);
/* Schema and name of a qualified name as a list of String nodes; false if not one. */
bool lint_list_name(PgQuery__Node *const *items, size_t n, const char **schema, const char **name);
/* Was the relation created earlier in the file? */
bool lint_is_created(const lint_state *st, const char *schema, const char *name);
bool lint_rangevar_is_created(const lint_state *st, const PgQuery__RangeVar *rv);
/* Remember a relation the file creates (NULL or empty name: nothing). */
void lint_add_created(lint_state *st, const char *schema, const char *name);
/* A constant boolean argument (true, 'off', ...).  False if not constant. */
bool lint_const_bool(const PgQuery__Node *n, bool *value);
/* A constant string ('...', or '...'::type), or NULL. */
const char *lint_const_string(const PgQuery__Node *n);
/* A DefElem option's value as defGetBoolean() reads it. */
bool lint_defelem_bool(const PgQuery__DefElem *de);
/* The DefElem called name in options, or NULL. */
const PgQuery__DefElem *lint_find_option(PgQuery__Node *const *options, size_t n, const char *name);
/* Name and (possibly NULL) schema of a function call; NULL name if unreadable. */
const char *lint_func_call_name(const PgQuery__FuncCall *fc, const char **schema);

/* ---- the rule modules --------------------------------------------------- */

/* not-idempotent for a top-level statement of a no-transaction file (lint_ddl.c) */
void lint_not_idempotent(lint_state *st, const stmt_ctx *ctx, const char *what, const char *fix);

/* transaction-control for what (e.g. "COMMIT") (lint_session.c) */
void lint_check_transaction(lint_state *st, const stmt_ctx *ctx, const char *what);

/* The calls anywhere in node: advisory-unlock-all, set_config (lint_session.c) */
void lint_check_calls(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node);

/* A DO statement: its PL/pgSQL body, walked (lint_plpgsql.c) */
void lint_check_do(lint_state *st, const stmt_ctx *ctx, const PgQuery__DoStmt *d);

/*
 * The visible part of a computed EXECUTE string (caller frees), or NULL when
 * no part of it is constant (lint_execute.c).
 */
char *lint_execute_skeleton(const PgQuery__Node *expr);

/* A statement of a verify file; kind names it for messages (lint_verify.c) */
/*
 * Take the constraints of earlier files from carry into st before the
 * first statement (carry is left empty), and give st's back afterwards
 * (every one then counts as earlier); carry NULL: only free st's.
 * lint_alter.c.
 */
void lint_carry_in(lint_state *st, lint_carry *carry);
void lint_carry_out(lint_state *st, lint_carry *carry);

void lint_check_verify(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node, const char *kind);

#endif /* TOOLKIT_LINT_INTERNAL_H */
