/*-------------------------------------------------------------------------
 *
 * lint_session.c
 *	  Lint rules for the migrator's own session and transaction.
 *
 * transaction-control, session-set, discard, set-role, advisory-unlock-all and
 * timeout-override: statements and calls that would change or break the
 * session the migrator runs every file in (its role, search_path, timeouts,
 * run lock, transaction).  Calls are found anywhere in a statement except in
 * code it stores for later (function bodies, views, defaults, ...).  Setting
 * names are compared case-insensitively, as the server does.
 *
 * migrator/lint_session.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memory.h"
#include "sqlwalk.h"

/* Is a session-level change of setting (NULL: not known) one no comment excuses? */
static bool
session_change_is_fixed(const char *setting)
{
	return setting == NULL || strcasecmp(setting, "search_path") == 0;
}

/* GUC names are case-insensitive ("SET \"Role\"" is SET ROLE). */
static bool
is_role_setting(const char *name)
{
	return name != NULL && (strcasecmp(name, "role") == 0 || strcasecmp(name, "session_authorization") == 0);
}

/* The run's option for a timeout setting, or NULL if name is not one. */
static const char *
timeout_option(const char *name)
{
	if (name != NULL && strcasecmp(name, "lock_timeout") == 0)
		return "--lock-timeout";
	if (name != NULL && strcasecmp(name, "statement_timeout") == 0)
		return "--statement-timeout";
	return NULL;
}

/*
 * A timeout value as the server reads it (parse_int with GUC_UNIT_MS): a
 * number, optionally fractional, then optionally a unit (us, ms, s, min,
 * h, d; case-sensitive), rounded to whole milliseconds; no unit is ms.
 * False if text is not such a value (the server would reject it too).
 */
static bool
timeout_text_ms(const char *text, double *ms)
{
	static const struct
	{
		const char *unit;
		double      ms;
	} units[] = {{"us", 0.001}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
	char  *end;
	double v;

	while (*text == ' ' || *text == '\t' || *text == '\n')
		text++;
	v = strtod(text, &end);
	/* the server's range is 0 to INT_MAX ms; nan and inf are not numbers to it */
	if (end == text || !(v >= 0 && v <= 1e15))
		return false;
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end == '\0')
	{
		*ms = v;
		return true;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
	{
		size_t len = strlen(units[i].unit);

		if (strncmp(end, units[i].unit, len) == 0 && strspn(end + len, " \t\n") == strlen(end + len))
		{
			*ms = v * units[i].ms;
			return *ms <= 1e15;
		}
	}
	return false;
}

/* A constant value node (5000, 1.5, '5s') as milliseconds; false if not one. */
static bool
timeout_node_ms(const PgQuery__Node *n, double *ms)
{
	const char *text = lint_const_string(n);

	if (text != NULL)
		return timeout_text_ms(text, ms);
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_A_CONST && n->a_const != NULL)
	{
		if (n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL && n->a_const->ival != NULL)
		{
			*ms = n->a_const->ival->ival;
			return *ms >= 0;
		}
		if (n->a_const->val_case == PG_QUERY__A__CONST__VAL_FVAL && n->a_const->fval != NULL)
			return timeout_text_ms(n->a_const->fval->fval, ms);
	}
	return false;
}

/* "1h", "2min", "5s" or "1500ms" (the largest exact unit), for messages; caller frees. */
static char *
format_ms(int64_t ms)
{
	if (ms > 0 && ms % 3600000 == 0)
		return xasprintf("%lldh", (long long) (ms / 3600000));
	if (ms > 0 && ms % 60000 == 0)
		return xasprintf("%lldmin", (long long) (ms / 60000));
	if (ms % 1000 == 0)
		return xasprintf("%llds", (long long) (ms / 1000));
	return xasprintf("%lldms", (long long) ms);
}

/*
 * timeout-override: what (e.g. "SET LOCAL lock_timeout") sets the timeout
 * setting name to value (NULL: TO DEFAULT).  0, however spelt, removes the
 * bound: an error.  A value above the run's known bound raises it, and a
 * value when the bound is not known overrides the operator's: warnings.
 */
static void
check_timeout(lint_state *st, const stmt_ctx *ctx, const char *what, const char *name,
			  const PgQuery__Node *value, bool is_default)
{
	const char *option = timeout_option(name);
	bool        lock = strcasecmp(name, "lock_timeout") == 0;
	bool        known = lock ? st->lock_timeout_known : st->statement_timeout_known;
	int64_t     bound = lock ? st->lock_timeout_ms : st->statement_timeout_ms;
	double      v;
	int64_t     ms;
	char       *shown;

	if (is_default)
	{
		lint_report(
			st, ctx, LINT_R_TIMEOUT,
			"%s TO DEFAULT replaces the run's %s with the server's default (0, no bound, unless configured); "
			"remove it, and give the run a larger %s if this migration needs one",
			what, option, option);
		return;
	}
	if (!timeout_node_ms(value, &v))
	{
		lint_report(st, ctx, LINT_R_TIMEOUT,
					"%s to a value that cannot be read before it runs may remove or raise the run's %s; "
					"remove it, or write a constant no higher than the run's %s",
					what, option, option);
		return;
	}
	/* the server rounds to whole milliseconds: '0.4ms' and '100us' are 0 */
	ms = (int64_t) (v + 0.5);
	if (ms == 0)
	{
		lint_report_error(
			st, ctx, LINT_R_TIMEOUT,
			"%s to 0 removes the bound, so %s can wait forever while the locks it holds queue the "
			"application behind it; remove it, or set a finite value no higher than the run's %s",
			what, lock ? "a lock wait" : "a statement", option);
		return;
	}
	if (known && (bound == 0 || ms <= bound))
		return;
	shown = format_ms(ms);
	if (known)
	{
		char *b = format_ms(bound);

		lint_report(st, ctx, LINT_R_TIMEOUT,
					"%s to %s raises the run's %s (%s) for this migration; "
					"remove it, and give the run a larger %s if this migration needs one",
					what, shown, option, b, option);
		free(b);
	}
	else
		lint_report(
			st, ctx, LINT_R_TIMEOUT,
			"%s to %s overrides the operator's bound (the run's %s, or the session's own %s) for this migration; "
			"remove it, and give the run %s if this migration needs another bound",
			what, shown, option, name, option);
	free(shown);
}

/* Argument pos (0-based) of a call, or the one passed as name => ...; NULL if absent. */
static const PgQuery__Node *
call_arg(const PgQuery__FuncCall *fc, size_t pos, const char *name)
{
	for (size_t i = 0; i < fc->n_args; i++)
	{
		const PgQuery__Node *a = fc->args[i];

		if (a->node_case == PG_QUERY__NODE__NODE_NAMED_ARG_EXPR)
		{
			if (a->named_arg_expr->name != NULL && strcasecmp(a->named_arg_expr->name, name) == 0)
				return a->named_arg_expr->arg;
		}
		else if (i == pos)
			return a;
	}
	return NULL;
}

/* A NULL constant (NULL, NULL::boolean). */
static bool
const_is_null(const PgQuery__Node *n)
{
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && n->type_cast != NULL)
		n = n->type_cast->arg;
	return n != NULL && n->node_case == PG_QUERY__NODE__NODE_A_CONST && n->a_const != NULL &&
		   n->a_const->isnull;
}

/*
 * set_config(setting_name, new_value, is_local): is_local NULL is false
 * (set_config is not strict), and one that is not a constant cannot be
 * known to be true, so both count as session-level.
 */
static void
check_set_config(lint_state *st, const stmt_ctx *ctx, const PgQuery__FuncCall *fc)
{
	const char          *setting = lint_const_string(call_arg(fc, 0, "setting_name"));
	const PgQuery__Node *local = call_arg(fc, 2, "is_local");
	bool                 is_local = false;
	bool                 constant = const_is_null(local) || lint_const_bool(local, &is_local);

	if (is_role_setting(setting))
	{
		/* local too, as SET LOCAL ROLE: the rest of the migration runs as that role */
		lint_report_fixed(
			st, ctx, LINT_R_SET_ROLE,
			"set_config('%s', ...) changes the role the migrator runs as, so objects would be owned by another role; "
			"choose the role with the migrator's --role option (cannot be excused)",
			setting);
		return;
	}
	if (!constant || !is_local)
	{
		char *head = !constant
						 ? xstrdup("set_config(...) with a third argument that is not a constant may change")
						 : xasprintf("set_config(..., %s) changes", const_is_null(local) ? "NULL" : "false");

		if (session_change_is_fixed(setting))
			lint_report_fixed(
				st, ctx, LINT_R_SESSION_SET,
				"%s %s for the migrator's whole session, so every later migration runs with it; pass "
				"true as the third argument, which is SET LOCAL (cannot be excused)",
				head, setting != NULL ? "search_path" : "a setting");
		else
			lint_report(st, ctx, LINT_R_SESSION_SET,
						"%s a setting for the migrator's whole session, beyond this migration; "
						"pass true as the third argument, which is SET LOCAL",
						head);
		free(head);
	}
	else if (setting == NULL)
		/* the name is computed: it may be either timeout */
		lint_report(st, ctx, LINT_R_TIMEOUT,
					"set_config(..., true) of a setting whose name cannot be read before it runs may remove "
					"or raise the run's --lock-timeout or --statement-timeout; write the setting's name as a "
					"constant");
	else if (timeout_option(setting) != NULL)
	{
		char *what = xasprintf("set_config('%s', ..., true)", setting);

		check_timeout(st, ctx, what, setting, call_arg(fc, 1, "new_value"), false);
		free(what);
	}
}

typedef struct call_walk
{
	lint_state     *st;
	const stmt_ctx *ctx;
} call_walk;

/*
 * Statements that store expressions for later rather than run them now:
 * their calls are not made by the migration (and DoStmt, CreateSchemaStmt,
 * ExplainStmt and PrepareStmt are checked through what they contain).
 */
static bool
stores_code(const ProtobufCMessageDescriptor *d)
{
	return d == &pg_query__create_function_stmt__descriptor || d == &pg_query__rule_stmt__descriptor ||
		   d == &pg_query__view_stmt__descriptor || d == &pg_query__create_trig_stmt__descriptor ||
		   d == &pg_query__create_policy_stmt__descriptor || d == &pg_query__alter_policy_stmt__descriptor ||
		   d == &pg_query__create_stmt__descriptor || d == &pg_query__create_domain_stmt__descriptor ||
		   d == &pg_query__alter_domain_stmt__descriptor || d == &pg_query__do_stmt__descriptor ||
		   d == &pg_query__create_schema_stmt__descriptor || d == &pg_query__explain_stmt__descriptor ||
		   d == &pg_query__prepare_stmt__descriptor;
}

static bool
visit_call(const ProtobufCMessage *msg, void *arg)
{
	call_walk               *w = arg;
	const PgQuery__FuncCall *fc;
	const char              *schema;
	const char              *name;

	if (stores_code(msg->descriptor))
		return false;
	if (msg->descriptor != &pg_query__func_call__descriptor)
		return true;
	fc = (const PgQuery__FuncCall *) msg;
	name = lint_func_call_name(fc, &schema);
	if (name == NULL || (schema != NULL && strcmp(schema, "pg_catalog") != 0))
		return true;

	if (strcmp(name, "pg_advisory_unlock_all") == 0)
		lint_report(
			w->st, w->ctx, LINT_R_UNLOCK_ALL,
			"pg_advisory_unlock_all() releases the migrator's own run lock, so another migrator can start at the same time; "
			"release the advisory locks you took one by one with pg_advisory_unlock()");
	else if (strcmp(name, "set_config") == 0 && fc->n_args == 3)
		check_set_config(w->st, w->ctx, fc);
	return true;
}

void
lint_check_calls(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	call_walk w = {st, ctx};

	sql_walk(&node->base, visit_call, &w);
}

void
lint_check_transaction(lint_state *st, const stmt_ctx *ctx, const char *what)
{
	lint_report(
		st, ctx, LINT_R_TRANSACTION,
		"%s takes over the transaction the migrator runs the file in; remove it: the migrator commits each file itself "
		"(\"-- migrator:no-transaction\" runs a file statement by statement)",
		what);
}

static const char *
transaction_keyword(PgQuery__TransactionStmtKind kind)
{
	switch (kind)
	{
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
			return "BEGIN";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
			return "START TRANSACTION";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
			return "COMMIT";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
			return "ROLLBACK";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT:
			return "SAVEPOINT";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE:
			return "RELEASE SAVEPOINT";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO:
			return "ROLLBACK TO SAVEPOINT";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE:
			return "PREPARE TRANSACTION";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED:
			return "COMMIT PREPARED";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED:
			return "ROLLBACK PREPARED";
		default:
			return "a transaction statement";
	}
}

/* SET LOCAL lock_timeout / statement_timeout: timeout-override */
static void
check_set_local_timeout(lint_state *st, const stmt_ctx *ctx, const PgQuery__VariableSetStmt *v)
{
	char *what;

	if (timeout_option(v->name) == NULL || (v->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE &&
											v->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT))
		return;
	what = xasprintf("SET LOCAL %s", v->name);
	check_timeout(st, ctx, what, v->name, v->n_args > 0 ? v->args[0] : NULL,
				  v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT);
	free(what);
}

static void
check_variable_set(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__VariableSetStmt *v = node->variable_set_stmt;
	const char                     *name = v->name;

	if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL)
	{
		lint_report_fixed(
			st, ctx, LINT_R_SESSION_SET,
			"RESET ALL undoes the settings the migrator chose for its session (lock_timeout, statement_timeout, search_path), "
			"for every later migration; remove it, or reset one setting for this migration only with SET LOCAL ... TO DEFAULT "
			"(cannot be excused)");
		return;
	}
	if (is_role_setting(name))
	{
		const char *what =
			strcasecmp(name, "role") == 0
				? (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ? "RESET ROLE" : "SET ROLE")
				: (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ? "RESET SESSION AUTHORIZATION"
																	 : "SET SESSION AUTHORIZATION");

		/* LOCAL too: the rest of the migration would still run as that role */
		lint_report_fixed(
			st, ctx, LINT_R_SET_ROLE,
			"%s changes the role the migrator runs as, so objects would be owned by another role; "
			"choose the role with the migrator's --role option (cannot be excused)",
			what);
		return;
	}
	/* SET TRANSACTION ... lasts for the current transaction only */
	if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI && strcmp(name, "TRANSACTION") == 0)
		return;
	if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET)
	{
		if (session_change_is_fixed(name))
			lint_report_fixed(
				st, ctx, LINT_R_SESSION_SET,
				"RESET of \"%s\" changes it for the migrator's whole session, so every later migration "
				"runs with it; use SET LOCAL \"%s\" TO DEFAULT (cannot be excused)",
				name, name);
		else
			lint_report(
				st, ctx, LINT_R_SESSION_SET,
				"RESET of \"%s\" changes the setting for the migrator's whole session, beyond this migration; "
				"use SET LOCAL \"%s\" TO DEFAULT",
				name, name);
		return;
	}
	if (v->is_local)
	{
		check_set_local_timeout(st, ctx, v);
		return;
	}
	if (session_change_is_fixed(name))
	{
		lint_report_fixed(
			st, ctx, LINT_R_SESSION_SET,
			"SET of \"%s\" lasts for the migrator's whole session, so every later migration resolves its "
			"names with it; %s (cannot be excused)",
			name,
			st->no_transaction ? "qualify the names, or choose the schema with the migrator's --schema"
							   : "use SET LOCAL, which ends with the migration's transaction");
		return;
	}
	if (st->no_transaction)
		lint_report(
			st, ctx, LINT_R_SESSION_SET,
			"SET of \"%s\" lasts for the migrator's whole session, beyond this migration; "
			"SET LOCAL has no effect in a no-transaction file: use the migrator's options (--lock-timeout, --statement-timeout)",
			name);
	else
		lint_report(st, ctx, LINT_R_SESSION_SET,
					"SET of \"%s\" lasts for the migrator's whole session, beyond this migration; "
					"use SET LOCAL, which ends with the migration's transaction",
					name);
}

static void
check_discard(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__DiscardStmt *d = node->discard_stmt;
	const char                 *what;

	switch (d->target)
	{
		case PG_QUERY__DISCARD_MODE__DISCARD_PLANS:
			what = "DISCARD PLANS";
			break;
		case PG_QUERY__DISCARD_MODE__DISCARD_SEQUENCES:
			what = "DISCARD SEQUENCES";
			break;
		case PG_QUERY__DISCARD_MODE__DISCARD_TEMP:
			what = "DISCARD TEMP";
			break;
		default:
			what = "DISCARD ALL";
			break;
	}
	lint_report(
		st, ctx, LINT_R_DISCARD,
		"%s resets the state of the migrator's own session; remove it: a migration has no session state of its own to discard",
		what);
}

static void
check_transaction_stmt(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	lint_check_transaction(st, ctx, transaction_keyword(node->transaction_stmt->kind));
}

/* See lint_internal.h. */
const lint_stmt_check lint_session_checks[] = {
	{PG_QUERY__NODE__NODE_TRANSACTION_STMT, check_transaction_stmt},
	{PG_QUERY__NODE__NODE_VARIABLE_SET_STMT, check_variable_set},
	{PG_QUERY__NODE__NODE_DISCARD_STMT, check_discard},
	{PG_QUERY__NODE__NODE__NOT_SET, NULL},
};
