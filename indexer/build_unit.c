/*-------------------------------------------------------------------------
 *
 * build_unit.c
 *	  A unit of a job: one small state machine, driven by one table.
 *
 * A unit sends one statement at a time on its slot's connection.  Which
 * statement, and what follows it, is a row of step_table below:
 *
 *	  step -> the statement (a function producing it), whether it starts new
 *			  work (then it does not start after a signal), whether it is the
 *			  user's own SQL (run with the definition's search_path), the
 *			  transition on success and the transition on failure.
 *
 * A transition goes to a step, retries from a step (after a backoff, while
 * the error is transient and attempts are left; otherwise the unit fails),
 * rolls the swap's transaction back first, or calls the row's function,
 * which decides from the result (an index's state) or logs on the way.
 *
 * Before a failure is handled, a cancel of our own is named for what it
 * was: the watchdog's (a lock timeout, retried) or the clean-up bound's.
 * Before any statement, a lost connection is opened again; a retry that
 * follows a failed reconnect keeps what the unit knew (whether its CREATE
 * ran), so that a leftover of its lost build is dropped before the next
 * CREATE INDEX CONCURRENTLY IF NOT EXISTS, which would skip it.
 *
 * indexer/build_unit.c
 *
 *-------------------------------------------------------------------------
 */
#include "build_internal.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "drift.h"
#include "conn.h"
#include "index_sql.h"
#include "memory.h"
#include "options.h"
#include "query.h"
#include "retry.h"
#include "sqlquote.h"

/* ---- constructing units ----------------------------------------------------- */

char *
build_qualified(const char *schema, const char *name)
{
	char *qs = sql_quote_ident(schema);
	char *qn = sql_quote_ident(name);
	char *q = xasprintf("%s.%s", qs, qn);

	free(qs);
	free(qn);
	return q;
}

/* the step each kind starts with, and the one it starts again from after a failed attempt */
static const struct
{
	unit_step first;
	unit_step again;
} kind_steps[] = {
	[UNIT_BUILD] = {STEP_CREATE, STEP_CREATE},  [UNIT_STMT] = {STEP_SEND, STEP_SEND},
	[UNIT_DROP] = {STEP_SEND, STEP_SEND},       [UNIT_SWAP] = {STEP_BEGIN, STEP_BEGIN},
	[UNIT_VERIFY] = {STEP_VERIFY, STEP_VERIFY}, [UNIT_EXPAND] = {STEP_EXPAND, STEP_EXPAND},
};

unit *
unit_add(job *j, unit_kind kind, const char *schema, const char *name, const char *table_label)
{
	unit *u;

	ARRAY_GROW(j->units, j->n_units + 1, j->cap_units);
	u = &j->units[j->n_units++];
	memset(u, 0, sizeof(*u));
	u->kind = kind;
	u->schema = xstrdup(schema);
	u->name = xstrdup(name);
	u->table_label = xstrdup(table_label);
	u->label = xasprintf("\"%s\" on \"%s\"", name, table_label);
	u->attempt = 1;
	u->step = kind_steps[kind].first;
	return u;
}

void
unit_add_drop(job *j, const char *schema, const char *name, const char *table_label)
{
	unit *u = unit_add(j, UNIT_DROP, schema, name, table_label);
	char *q = build_qualified(schema, name);

	u->sql = xasprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", q);
	free(q);
}

void
unit_add_build(job *j, const index_def *def, const char *name, const char *schema, const char *table,
			   const char *table_oid, bool drop_first)
{
	char            *label = xasprintf("%s.%s", schema, table);
	unit            *u = unit_add(j, UNIT_BUILD, schema, name, label);
	index_sql_target t = {name, schema, table, true, true, false};

	u->sql = index_sql_render(def->parsed, &t);
	u->user_sql = true;
	u->table_oid = xstrdup(table_oid);
	u->drop_first = drop_first;
	if (drop_first)
		u->step = STEP_DROP_FIRST;
	free(label);
}

void
unit_add_stmt(job *j, const char *schema, const char *name, const char *table_label, char *sql, bool user_sql)
{
	unit *u = unit_add(j, UNIT_STMT, schema, name, table_label);

	u->sql = sql;
	u->user_sql = user_sql;
}

void
unit_free(unit *u)
{
	free(u->label);
	free(u->sql);
	free(u->schema);
	free(u->name);
	free(u->table_oid);
	free(u->table_label);
	free(u->swap_old_sql);
	free(u->swap_new_sql);
	free(u->mark_old);
	free(u->swap_old_name);
	db_error_clear(&u->err);
}

/* ---- the statements of the steps ---------------------------------------------- */

/* What a step sends: the statement, its parameters, the status expected. */
typedef struct step_stmt
{
	const char    *sql;
	char          *owned; /* sql, when made for this send (freed after) */
	int            nparams;
	const char    *params[3];
	ExecStatusType expect;
} step_stmt;

/* fills st, or settles u itself and returns false (nothing to send) */
typedef bool (*step_sql_fn)(engine *e, slot *s, job *j, unit *u, step_stmt *st);
/* decides u's next step after its statement */
typedef void (*step_decide_fn)(engine *e, slot *s, job *j, unit *u, PGresult *res);

static bool
sql_drop_index(engine *e, slot *s, job *j, unit *u, step_stmt *st)
{
	char *q = build_qualified(u->schema, u->name);

	(void) s, (void) j;
	if (u->step == STEP_DROP_FIRST)
		build_log(e, LOG_LEVEL_INFO, "repair", NULL,
				  "%s: dropping the invalid index left by an earlier build", u->label);
	st->owned = xasprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", q);
	st->sql = st->owned;
	free(q);
	return true;
}

static bool
sql_create(engine *e, slot *s, job *j, unit *u, step_stmt *st)
{
	(void) j;
	if (u->attempt == 1)
		build_log(e, LOG_LEVEL_INFO, "build_start", NULL, "building %s", u->label);
	u->created = true;
	s->create_skipped = false;
	st->sql = u->sql;
	return true;
}

static bool
sql_index_state(engine *e, slot *s, job *j, unit *u, step_stmt *st)
{
	(void) e, (void) s, (void) j;
	st->sql = CATALOG_INDEX_STATE_SQL;
	st->nparams = 3;
	st->params[0] = u->schema;
	st->params[1] = u->name;
	st->params[2] = u->table_oid;
	st->expect = PGRES_TUPLES_OK;
	return true;
}

static bool
sql_unit(engine *e, slot *s, job *j, unit *u, step_stmt *st)
{
	(void) e, (void) s, (void) j;
	st->sql = u->sql;
	return true;
}

/* The partition recipe runs here, synchronously; it settles the unit. */
static bool
sql_expand(engine *e, slot *s, job *j, unit *u, step_stmt *st)
{
	db_error err = {0};
	bool     ok = slot_search_path(s, "", &err) && partition_expand(s->ps.conn, j, &err);

	(void) u, (void) st;
	/* the units moved: find this one again */
	unit_result(e, s, j, &j->units[j->cur], ok, NULL, &err);
	db_error_clear(&err);
	return false;
}

static bool
sql_swap_old(engine *e, slot *s, job *j, unit *u, step_stmt *st)
{
	(void) e, (void) s, (void) j;
	st->sql = u->swap_old_sql;
	return true;
}

static bool
sql_swap_new(engine *e, slot *s, job *j, unit *u, step_stmt *st)
{
	(void) e, (void) s, (void) j;
	st->sql = u->swap_new_sql;
	return true;
}

static bool
sql_mark_old(engine *e, slot *s, job *j, unit *u, step_stmt *st)
{
	/* a literal made by libpq: the mark holds the index name */
	char *lit = PQescapeLiteral(s->ps.conn, u->mark_old, strlen(u->mark_old));

	(void) e, (void) j;
	st->owned = xasprintf("COMMENT ON INDEX %s IS %s", u->swap_old_name, lit ? lit : "NULL");
	PQfreemem(lit);
	st->sql = st->owned;
	return true;
}

/* ---- retrying ------------------------------------------------------------------- */

static bool
retryable(const db_error *err)
{
	pgerr_action a = pgerr_action_for(err->cls);

	return a == PGERR_ACTION_RETRY || a == PGERR_ACTION_RECONNECT;
}

/*
 * After a failure of u (err in u->err): retry from restart after a backoff
 * when the error is transient and attempts are left, otherwise fail the
 * unit.  Only a retry from CREATE forgets that a CREATE ran: any other
 * restart (a look for the leftover, its drop) still has to deal with what
 * the last CREATE left.
 */
static void
unit_retry_or_fail(engine *e, slot *s, unit *u, unit_step restart)
{
	int max_attempts = e->set->retries + 1;

	if (!e->interrupting && retryable(&u->err) && u->attempt < max_attempts)
	{
		int64_t delay = retry_backoff_ms(u->attempt, RETRY_BASE_MS, RETRY_CAP_MS);
		char   *msg = db_error_format(&u->err);
		char    dbuf[32];

		progress_format_ms(delay, dbuf, sizeof(dbuf));
		build_log(e, LOG_LEVEL_WARNING, "retry", NULL, "%s: %s (%s); retrying in %s (attempt %d of %d)",
				  u->label, msg, pgerr_class_name(u->err.cls), dbuf, u->attempt + 1, max_attempts);
		free(msg);
		u->attempt++;
		s->not_before = monotonic_ms() + delay;
		u->step = restart;
		if (restart == STEP_CREATE)
			u->created = false;
	}
	else
		u->step = STEP_FAILED;
}

static void
unit_fail_with(unit *u, pgerr_class cls, const char *message)
{
	db_error_clear(&u->err);
	u->err.cls = cls;
	u->err.message = xstrdup(message);
}

/* ---- deciding: the rows' functions -------------------------------------------- */

static bool
index_usable(const catalog_index_state *st)
{
	return st->exists && st->valid && st->ready && st->on_table;
}

/*
 * The CREATE's IF NOT EXISTS skipped: another session made an index of
 * that name while the build waited for its table (or between a lost
 * attempt and its retry).  It is this definition only when it compares so;
 * anything else fails the unit, and the index, not this run's, stays.
 */
static bool
skipped_is_the_definition(engine *e, job *j, unit *u, const catalog_index_state *st)
{
	char        *why = NULL;
	drift_result r = st->indexdef != NULL && index_usable(st)
						 ? drift_compare_text(j->item->def, st->indexdef, INDEX_SQL_IGNORE_RELATION, &why)
						 : DRIFT_UNKNOWN;

	if (r == DRIFT_SAME)
		build_log(e, LOG_LEVEL_WARNING, "built_by_another", NULL,
				  "%s: another session made it while this build waited (CREATE INDEX IF NOT EXISTS skipped); "
				  "it is the file's definition: counted as built",
				  u->label);
	else
	{
		char *message = xasprintf(
			"another session made an index of that name while this build waited (CREATE INDEX IF NOT EXISTS "
			"skipped), and %s: the database has \"%s\"; it was not built by this run and is left as it is",
			!index_usable(st)      ? "it is not valid or not on this table (still being built?)"
			: r == DRIFT_DIFFERENT ? "it is not the file's definition"
								   : "it cannot be compared with the file's",
			st->indexdef ? st->indexdef : "?");

		unit_fail_with(u, PGERR_OTHER, message);
		free(message);
	}
	free(why);
	return r == DRIFT_SAME;
}

/* VERIFY succeeded: is the index valid, ready and on its table (and ours)? */
static void
verify_decide(engine *e, slot *s, job *j, unit *u, PGresult *res)
{
	catalog_index_state st;

	catalog_index_state_from(res, &st);
	if (u->kind == UNIT_BUILD && s->create_skipped && st.exists)
	{
		u->step = skipped_is_the_definition(e, j, u, &st) ? STEP_DONE : STEP_FAILED;
		return;
	}
	if (index_usable(&st))
	{
		u->step = STEP_DONE;
		return;
	}
	unit_fail_with(
		u, PGERR_OTHER,
		!st.exists     ? "the index does not exist after the build"
		: !st.on_table ? "an index of that name exists on another table"
		: u->kind == UNIT_VERIFY
			? "the index of the partitioned table is still not valid after attaching every partition"
			: "the index is not valid after the build");
	/* a partitioned parent is never dropped here */
	u->step = u->kind == UNIT_BUILD && st.on_table ? STEP_DROP_LEFTOVER : STEP_FAILED;
}

/* CHECK succeeded: after a failure, what did the attempt leave? */
static void
check_decide(engine *e, slot *s, job *j, unit *u, PGresult *res)
{
	catalog_index_state st;

	(void) j;
	catalog_index_state_from(res, &st);
	if (u->kind == UNIT_BUILD && u->created && index_usable(&st))
	{
		char *msg = db_error_format(&u->err);

		/* the index is there and usable: whatever failed came after */
		build_log(e, LOG_LEVEL_WARNING, "built_despite_error", NULL,
				  "%s: valid and ready on its table although the build reported: %s; counted as built",
				  u->label, msg);
		free(msg);
		u->step = STEP_DONE;
	}
	else if (st.exists && st.on_table && !st.valid && u->created)
		u->step = STEP_DROP_LEFTOVER;
	else
		unit_retry_or_fail(e, s, u, kind_steps[u->kind].again);
}

/* CHECK failed: a lost connection is looked at again on a new one */
static void
check_failed(engine *e, slot *s, job *j, unit *u, PGresult *res)
{
	(void) res;
	unit_retry_or_fail(e, s, u, STEP_CHECK);
	if (u->step != STEP_FAILED)
		return;
	/* cannot look: keep the error, note the doubt */
	build_log(e, LOG_LEVEL_WARNING, "leftover_unknown", NULL, "%s: could not check for a leftover index: %s",
			  u->label, u->err.message);
	j->left_behind = j->left_behind ? j->left_behind : xstrdup(u->name);
}

static void
leftover_dropped(engine *e, slot *s, job *j, unit *u, PGresult *res)
{
	(void) j, (void) res;
	build_log(e, LOG_LEVEL_INFO, "leftover_dropped", NULL,
			  "%s: dropped the invalid index the failed build left", u->label);
	unit_retry_or_fail(e, s, u, STEP_CREATE);
}

static void
leftover_kept(engine *e, slot *s, job *j, unit *u, PGresult *res)
{
	char *msg = db_error_format(&u->err);

	(void) res;
	build_log(e, LOG_LEVEL_WARNING, "leftover_kept", NULL,
			  "%s: could not drop the invalid index the failed build left: %s", u->label, msg);
	free(msg);
	unit_retry_or_fail(e, s, u, STEP_DROP_LEFTOVER);
	if (u->step == STEP_FAILED)
	{
		free(j->left_behind);
		j->left_behind = xstrdup(u->name);
	}
}

/* the swap's own error decides; the rollback's is irrelevant */
static void
rollback_failed(engine *e, slot *s, job *j, unit *u, PGresult *res)
{
	(void) j, (void) res;
	build_log(e, LOG_LEVEL_DEBUG, NULL, NULL, "%s: rollback failed", u->label);
	unit_retry_or_fail(e, s, u, STEP_BEGIN);
}

/* ---- the table ------------------------------------------------------------------ */

typedef enum next_kind
{
	NEXT_NONE,     /* a final step: nothing follows */
	NEXT_GO,       /* go to step */
	NEXT_RETRY,    /* unit_retry_or_fail(step) */
	NEXT_ROLLBACK, /* inside the swap's transaction: ROLLBACK first; else NEXT_RETRY */
	NEXT_DECIDE    /* the function decides */
} next_kind;

typedef struct transition
{
	next_kind      kind;
	unit_step      step;
	step_decide_fn decide;
} transition;

typedef struct step_row
{
	const char *text;        /* the statement, when it is fixed */
	step_sql_fn sql;         /* or the function producing it; both NULL for DONE and FAILED */
	bool        starts_work; /* not started after a signal */
	bool        user_sql;    /* the unit's sql, which may be the user's own */
	transition  ok;
	transition  fail;
} step_row;

#define GO(st)                                                                                               \
	{                                                                                                        \
		NEXT_GO, st, NULL                                                                                    \
	}
#define RETRY(st)                                                                                            \
	{                                                                                                        \
		NEXT_RETRY, st, NULL                                                                                 \
	}
#define UNDO(st)                                                                                             \
	{                                                                                                        \
		NEXT_ROLLBACK, st, NULL                                                                              \
	}
#define DECIDE(fn)                                                                                           \
	{                                                                                                        \
		NEXT_DECIDE, STEP_FAILED, fn                                                                         \
	}
#define NONE                                                                                                 \
	{                                                                                                        \
		NEXT_NONE, STEP_FAILED, NULL                                                                         \
	}

/* clang-format off */
static const step_row step_table[] = {
	/*                      statement                      new    user   on success                on failure */
	[STEP_DROP_FIRST]    = {NULL, sql_drop_index,          true,  false, GO(STEP_CREATE),          RETRY(STEP_DROP_FIRST)},
	[STEP_CREATE]        = {NULL, sql_create,              true,  true,  GO(STEP_VERIFY),          GO(STEP_CHECK)},
	[STEP_VERIFY]        = {NULL, sql_index_state,         false, false, DECIDE(verify_decide),    GO(STEP_CHECK)},
	[STEP_CHECK]         = {NULL, sql_index_state,         false, false, DECIDE(check_decide),     DECIDE(check_failed)},
	[STEP_DROP_LEFTOVER] = {NULL, sql_drop_index,          false, false, DECIDE(leftover_dropped), DECIDE(leftover_kept)},
	[STEP_SEND]          = {NULL, sql_unit,                true,  true,  GO(STEP_DONE),            RETRY(STEP_SEND)},
	[STEP_EXPAND]        = {NULL, sql_expand,              true,  false, GO(STEP_DONE),            GO(STEP_FAILED)},
	[STEP_BEGIN]         = {"BEGIN", NULL,                 true,  false, GO(STEP_RENAME_OLD),      RETRY(STEP_BEGIN)},
	[STEP_RENAME_OLD]    = {NULL, sql_swap_old,            false, false, GO(STEP_MARK_OLD),        UNDO(STEP_BEGIN)},
	[STEP_MARK_OLD]      = {NULL, sql_mark_old,            false, false, GO(STEP_RENAME_NEW),      UNDO(STEP_BEGIN)},
	[STEP_RENAME_NEW]    = {NULL, sql_swap_new,            false, false, GO(STEP_COMMIT),          UNDO(STEP_BEGIN)},
	[STEP_COMMIT]        = {"COMMIT", NULL,                false, false, GO(STEP_DONE),            UNDO(STEP_BEGIN)},
	[STEP_ROLLBACK]      = {"ROLLBACK", NULL,              false, false, RETRY(STEP_BEGIN),        DECIDE(rollback_failed)},
	[STEP_DONE]          = {NULL, NULL,                    false, false, NONE,                     NONE},
	[STEP_FAILED]        = {NULL, NULL,                    false, false, NONE,                     NONE},
};
/* clang-format on */

bool
unit_step_starts_work(const unit *u)
{
	return step_table[u->step].starts_work;
}

static void
take_transition(engine *e, slot *s, job *j, unit *u, const transition *t, PGresult *res)
{
	switch (t->kind)
	{
		case NEXT_NONE:
			break;
		case NEXT_GO:
			u->step = t->step;
			break;
		case NEXT_RETRY:
			unit_retry_or_fail(e, s, u, t->step);
			break;
		case NEXT_ROLLBACK:
			if (PQstatus(s->ps.conn) == CONNECTION_OK && PQtransactionStatus(s->ps.conn) != PQTRANS_IDLE)
				u->step = STEP_ROLLBACK;
			else
				unit_retry_or_fail(e, s, u, t->step);
			break;
		case NEXT_DECIDE:
			t->decide(e, s, j, u, res);
			break;
	}
}

/* ---- driving a unit ---------------------------------------------------------------- */

/*
 * After a failed build or verify, look over the run's main connection: the
 * slot's session may be the thing that is broken (lost, or left in a state
 * where nothing runs), and an index that is valid, ready and on its table
 * is built whatever the slot said.  true when the look settled the step.
 */
static bool
check_over_monitor(engine *e, slot *s, job *j, unit *u)
{
	step_stmt st = {0};
	PGresult *res = NULL;
	db_error  err = {0};
	bool      ok;

	if (!e->monitor_broken && PQstatus(e->env->monitor) != CONNECTION_OK)
		e->monitor_broken = true; /* lost with the server: look over the slot's own, new, connection */
	if (e->monitor_broken)
		return false;
	sql_index_state(e, s, j, u, &st);
	ok = db_run_ex(e->env->monitor, st.sql, st.nparams, st.params, st.expect, &res, &err, NULL, false);
	if (!ok && PQstatus(e->env->monitor) != CONNECTION_OK)
	{
		/* the monitor died under this look: the caller looks again over the slot's connection */
		e->monitor_broken = true;
		PQclear(res);
		db_error_clear(&err);
		return true;
	}
	unit_result(e, s, j, u, ok, res, &err);
	PQclear(res);
	db_error_clear(&err);
	return true;
}

/*
 * A lost connection: open a new one (a retry has waited its backoff).
 * false when u was settled instead: failed, or waiting for its next attempt
 * at the same step.
 */
static bool
slot_reconnect(engine *e, slot *s, unit *u)
{
	parallel_slot_abandon(&s->ps);
	conn_close(s->ps.conn);
	s->ps.conn = NULL;
	if (!e->interrupting && slot_connect(e, s))
		return true;
	unit_fail_with(u, PGERR_CONNECTION_LOST, "the connection was lost and could not be opened again");
	if (e->interrupting)
		u->step = STEP_FAILED;
	else
		unit_retry_or_fail(e, s, u, u->step);
	return false;
}

void
unit_advance(engine *e, slot *s, job *j, unit *u)
{
	const step_row *row = &step_table[u->step];
	step_stmt       st = {NULL, NULL, 0, {NULL, NULL, NULL}, PGRES_COMMAND_OK};
	db_error        err = {0};

	if (row->text == NULL && row->sql == NULL)
		return; /* DONE or FAILED */
	if (u->step == STEP_CHECK && check_over_monitor(e, s, j, u))
		return;
	if ((s->ps.conn == NULL || PQstatus(s->ps.conn) != CONNECTION_OK) && !slot_reconnect(e, s, u))
		return;
	st.sql = row->text;
	if (row->sql != NULL && !row->sql(e, s, j, u, &st))
		return;
	/* the definition's schema for the user's statement only, see slot_search_path */
	if (!slot_search_path(s, row->user_sql && u->user_sql ? j->item->def->schema : "", &err))
		unit_result(e, s, j, u, false, NULL, &err);
	else if (!slot_send(e, s, st.sql, st.nparams, st.params, st.expect, &err))
		unit_result(e, s, j, u, false, NULL, &err);
	db_error_clear(&err);
	free(st.owned);
}

/* A cancel of our own: say whose, and what it means. */
static void
name_our_cancel(engine *e, slot *s, unit *u)
{
	if (u->err.cls != PGERR_CANCELED_BY_US)
		return;
	if (s->watchdog_fired)
	{
		char buf[32];

		/* our watchdog: the table lock did not come in time */
		format_duration(e->set->lock_timeout_ms, buf, sizeof(buf));
		free(u->err.message);
		u->err.message =
			xasprintf("gave up waiting for a lock on \"%s\" after --lock-timeout %s", u->table_label, buf);
		u->err.cls = PGERR_LOCK_TIMEOUT;
		u->err.sqlstate[0] = '\0';
	}
	else if (s->deadline_fired)
	{
		free(u->err.message);
		u->err.message = xstrdup("canceled at the clean-up bound after the signal");
		u->err.sqlstate[0] = '\0';
	}
}

void
unit_result(engine *e, slot *s, job *j, unit *u, bool ok, PGresult *res, db_error *err)
{
	const step_row *row = &step_table[u->step];

	if (!ok)
	{
		db_error_clear(&u->err);
		u->err = *err;
		memset(err, 0, sizeof(*err));
		name_our_cancel(e, s, u);
	}
	take_transition(e, s, j, u, ok ? &row->ok : &row->fail, res);
}
