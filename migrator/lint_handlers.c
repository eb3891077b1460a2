/*-------------------------------------------------------------------------
 *
 * lint_handlers.c
 *	  swallowed-error: exception handlers of DO blocks.
 *
 * A handler of a BEGIN ... EXCEPTION block in a DO body that can catch an
 * error the run must see (lock_not_available, class 40, class 57, through
 * OTHERS, a condition name, SQLSTATE 'xxxxx' or a class code) and does not end
 * by raising turns a lock timeout into success.  Judged on the PL/pgSQL
 * parser's JSON (jansson): a "PLpgSQL_exception" lists its conditions and its
 * "action" statements, but keeps no line, so the WHEN line is found with the
 * lexer (the first token after the block's statements that spells the
 * handler's first condition).
 *
 * migrator/lint_handlers.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_plpgsql.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

/*
 * The conditions (PostgreSQL's plerrcodes.h) that catch an error the run
 * must see: lock_not_available, which the migrator retries, and every error
 * of classes 40 (the transaction was rolled back: deadlock, serialization)
 * and 57 (operator intervention: statement_timeout, cancel, shutdown).  A
 * category code (ending in 000) catches its whole class, so 55000 catches
 * 55P03.
 */
static const struct
{
	const char *name;
	const char *sqlstate;
} run_error_conditions[] = {
	{"object_not_in_prerequisite_state", "55000"},
	{"lock_not_available", "55P03"},
	{"transaction_rollback", "40000"},
	{"serialization_failure", "40001"},
	{"transaction_integrity_constraint_violation", "40002"},
	{"statement_completion_unknown", "40003"},
	{"deadlock_detected", "40P01"},
	{"operator_intervention", "57000"},
	{"query_canceled", "57014"},
	{"admin_shutdown", "57P01"},
	{"crash_shutdown", "57P02"},
	{"cannot_connect_now", "57P03"},
	{"database_dropped", "57P04"},
	{"idle_session_timeout", "57P05"},
};

/*
 * What the exception condition condname (as PL/pgSQL stores it: a name, or
 * the code of SQLSTATE 'xxxxx') catches of those errors, for the message;
 * NULL if none.  OTHERS catches everything but query_canceled and
 * assert_failure.
 */
static const char *
condition_catches(const char *condname)
{
	const char *code = NULL;

	if (strcasecmp(condname, "others") == 0)
		return "lock_not_available (the migrator's lock timeout), deadlock_detected and serialization_failure";
	for (size_t i = 0; i < sizeof(run_error_conditions) / sizeof(run_error_conditions[0]); i++)
		if (strcasecmp(condname, run_error_conditions[i].name) == 0)
			code = run_error_conditions[i].sqlstate;
	if (code == NULL && strlen(condname) == 5)
		code = condname;
	if (code == NULL)
		return NULL;
	if (strcasecmp(code, "55P03") == 0)
		return "lock_not_available (the migrator's lock timeout)";
	if (strcmp(code, "55000") == 0)
		return "class 55, with lock_not_available (the migrator's lock timeout)";
	if (strcmp(code, "40000") == 0)
		return "every class 40 error (deadlock_detected, serialization_failure)";
	if (strncmp(code, "40", 2) == 0)
		return "a class 40 error (the transaction was rolled back: a deadlock or serialization failure)";
	if (strcmp(code, "57000") == 0)
		return "every class 57 error (query_canceled by statement_timeout or a cancel, admin_shutdown)";
	if (strncmp(code, "57", 2) == 0)
		return "a class 57 error (statement_timeout, a cancel or a shutdown)";
	return NULL;
}

/* Is condname an SQLSTATE code rather than a condition name? */
static bool
is_sqlstate_code(const char *condname)
{
	return strlen(condname) == 5 && strspn(condname, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 5;
}

/*
 * Is there a RETURN, EXIT or CONTINUE anywhere in v?  Each can leave the
 * handler before its closing RAISE (RETURN the DO block, EXIT and CONTINUE
 * an enclosing loop), so the RAISE is not proof that the error goes on.
 * One that only leaves a loop inside the handler counts too: simpler to
 * rewrite than to prove harmless.
 */
static bool
has_early_exit(json_t *v)
{
	const char *key;
	json_t     *val;
	size_t      i;

	if (json_is_array(v))
	{
		json_array_foreach(v, i, val)
		{
			if (has_early_exit(val))
				return true;
		}
	}
	else if (json_is_object(v))
	{
		json_object_foreach(v, key, val)
		{
			if (strcmp(key, "PLpgSQL_stmt_return") == 0 || strcmp(key, "PLpgSQL_stmt_exit") == 0 ||
				has_early_exit(val))
				return true;
		}
	}
	return false;
}

/*
 * Does a handler's statement list end in RAISE at EXCEPTION level (ERROR,
 * 21), with nothing before it that leaves the handler another way?
 */
static bool
ends_in_raise(json_t *action)
{
	json_t *last;
	json_t *raise;

	if (!json_is_array(action) || json_array_size(action) == 0 || has_early_exit(action))
		return false;
	last = json_array_get(action, json_array_size(action) - 1);
	raise = json_is_object(last) ? json_object_get(last, "PLpgSQL_stmt_raise") : NULL;
	return json_is_object(raise) && json_integer_value(json_object_get(raise, "elog_level")) >= 21;
}

/* The largest "lineno" anywhere in v (0 if none). */
static int
max_lineno(json_t *v)
{
	const char *key;
	json_t     *val;
	size_t      i;
	int         max = 0;

	if (json_is_array(v))
	{
		json_array_foreach(v, i, val)
		{
			int l = max_lineno(val);

			if (l > max)
				max = l;
		}
	}
	else if (json_is_object(v))
	{
		json_object_foreach(v, key, val)
		{
			int l = strcmp(key, "lineno") == 0 ? (int) json_integer_value(val) : max_lineno(val);

			if (l > max)
				max = l;
		}
	}
	return max;
}

/*
 * The body line of the first token at or after body offset *cursor that
 * spells condition condname (the word, or the string of SQLSTATE 'xxxxx'),
 * found with PostgreSQL's lexer so comments do not count; *cursor moves past
 * it.  0 if not found.  The PL/pgSQL parser keeps no line for a handler, and
 * its WHEN line is where an allow comment goes.
 */
static int
condition_line(do_walk *w, const char *condname, int *cursor)
{
	size_t len = strlen(condname);

	if (!w->scanned)
	{
		PgQueryScanResult res = pg_query_scan(w->body);

		w->scanned = true;
		if (res.error == NULL)
			w->tokens = pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *) res.pbuf.data);
		pg_query_free_scan_result(res);
	}
	if (w->tokens == NULL)
		return 0;
	for (size_t i = 0; i < w->tokens->n_tokens; i++)
	{
		const PgQuery__ScanToken *t = w->tokens->tokens[i];
		const char               *text = w->body + t->start;
		size_t                    tlen = (size_t) (t->end - t->start);
		bool                      match;

		if (t->start < *cursor || t->token == PG_QUERY__TOKEN__SQL_COMMENT ||
			t->token == PG_QUERY__TOKEN__C_COMMENT)
			continue;
		if (t->token == PG_QUERY__TOKEN__SCONST)
			match = is_sqlstate_code(condname) && tlen == len + 2 && strncmp(text + 1, condname, len) == 0;
		else
			match = tlen == len && strncasecmp(text, condname, len) == 0;
		if (match)
		{
			int line = 1;

			for (int k = 0; k < t->start; k++)
				if (w->body[k] == '\n')
					line++;
			*cursor = t->end;
			if (t->end > w->handlers_end)
				w->handlers_end = t->end;
			return line;
		}
	}
	return 0;
}

/* Body offset of the start of body line line (1-based). */
static int
body_line_offset(const char *body, int line)
{
	int off = 0;

	for (int l = 1; l < line && body[off] != '\0'; off++)
		if (body[off] == '\n')
			l++;
	return off;
}

/*
 * swallowed-error: a handler of a BEGIN ... EXCEPTION block that can catch
 * an error the run must see and does not end by raising turns a lock
 * timeout into success, so the migration is recorded without its change.
 */
void
lint_check_exception_block(do_walk *w, json_t *block, int block_line)
{
	json_t *exc = json_object_get(block, "exceptions");
	json_t *list;
	json_t *handler;
	size_t  i;
	int     cursor;

	exc = json_is_object(exc) ? json_object_get(exc, "PLpgSQL_exception_block") : NULL;
	list = json_is_object(exc) ? json_object_get(exc, "exc_list") : NULL;
	if (!json_is_array(list))
		return;
	/*
	 * The handlers follow the block's last statement and the handlers of
	 * the blocks inside it (checked before this one).
	 */
	cursor = body_line_offset(w->body, max_lineno(json_object_get(block, "body")));
	if (w->handlers_end > cursor)
		cursor = w->handlers_end;
	json_array_foreach(list, i, handler)
	{
		json_t     *h = json_object_get(handler, "PLpgSQL_exception");
		json_t     *conds = json_is_object(h) ? json_object_get(h, "conditions") : NULL;
		json_t     *action = json_is_object(h) ? json_object_get(h, "action") : NULL;
		json_t     *c;
		size_t      k;
		const char *culprit = NULL;
		const char *what = NULL;
		const char *first = NULL;
		int         line = 0;
		stmt_ctx    ctx;

		json_array_foreach(conds, k, c)
		{
			json_t     *cond = json_object_get(c, "PLpgSQL_condition");
			const char *name = json_string_value(json_object_get(cond, "condname"));

			if (name == NULL)
				continue;
			if (first == NULL)
				first = name;
			if (culprit == NULL && (what = condition_catches(name)) != NULL)
				culprit = name;
		}
		if (first != NULL)
			line = condition_line(w, first, &cursor);
		if (culprit == NULL || ends_in_raise(action))
			continue;
		if (line == 0)
			line = json_array_size(action) > 0 ? max_lineno(json_array_get(action, 0)) : block_line;
		lint_nested_ctx(w, line, NULL, &ctx);
		lint_report(
			w->st, &ctx, LINT_R_SWALLOWED,
			"the exception handler WHEN %s%s%s catches %s, but does not end in RAISE, so the error becomes "
			"success and the migration is recorded as applied without its change; avoid the error instead "
			"of catching it (e.g. ADD COLUMN IF NOT EXISTS, CREATE ... IF NOT EXISTS), or end the handler "
			"with RAISE; to re-raise it",
			is_sqlstate_code(culprit) ? "SQLSTATE '" : "",
			strcasecmp(culprit, "others") == 0 ? "OTHERS" : culprit, is_sqlstate_code(culprit) ? "'" : "",
			what);
	}
}
