/*-------------------------------------------------------------------------
 *
 * build.c
 *	  Carrying out the plan: concurrent builds on up to N connections,
 *	  watched, retried, repaired, cancellable.
 *
 * Structure.  A plan item that needs work becomes a job: a short list of
 * units, each a small state machine that sends one statement at a time on
 * its slot's connection:
 *
 *	  UNIT_BUILD   [drop an invalid index of the name] CREATE INDEX
 *				   CONCURRENTLY, verify valid and ready; after a failure look
 *				   for the leftover, drop it, then retry or give up
 *	  UNIT_STMT    one statement (ON ONLY parent, ATTACH PARTITION), retried
 *	  UNIT_DROP    DROP INDEX CONCURRENTLY IF EXISTS, retried
 *	  UNIT_SWAP    BEGIN; rename old away; rename new in; COMMIT
 *	  UNIT_VERIFY  the index must be valid (a partitioned parent, at the end)
 *	  UNIT_EXPAND  list the partitions and add their units (synchronous)
 *
 * The jobs of one table run one after the other on one slot; tables are
 * handed to idle slots biggest first.  The loop in build_run() sends what
 * is ready, waits in select() for any answer, a backoff or the next
 * watchdog tick, and handles what arrived.
 *
 * Watchdog and progress use the run's main connection, idle during the
 * build: one query a tick for all slots (pg_stat_activity joined with
 * pg_stat_progress_create_index), plus pg_blocking_pids() for the slots
 * that wait on a lock.
 *
 * indexer/build.c
 *
 *-------------------------------------------------------------------------
 */
#include "build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockers.h"
#include "cancel.h"
#include "catalog.h"
#include "exitcodes.h"
#include "index_sql.h"
#include "log.h"
#include "memory.h"
#include "options.h"
#include "parallel_slot.h"
#include "pgerr.h"
#include "query.h"
#include "retry.h"

/* watchdog and progress poll interval */
#define MONITOR_MS 250
/* report a wait for older transactions once it lasted this long, then every WAIT_REPORT_MS */
#define WAIT_FIRST_REPORT_MS 1000
#define WAIT_REPORT_MS       10000
/* a progress line this often when stderr is not a terminal */
#define PROGRESS_LOG_MS 10000
/* after the cleanup bound, how long to wait for cancelled statements */
#define HARD_STOP_MS 5000
/* warn when jobs x maintenance_work_mem exceeds this (kB) */
#define MWM_WARN_KB ((int64_t) 1024 * 1024)

typedef enum unit_kind
{
	UNIT_BUILD,
	UNIT_STMT,
	UNIT_DROP,
	UNIT_SWAP,
	UNIT_VERIFY,
	UNIT_EXPAND
} unit_kind;

/* the statement a unit sends next */
typedef enum unit_step
{
	STEP_DROP_FIRST,    /* BUILD: DROP the invalid index of the name */
	STEP_CREATE,        /* BUILD: CREATE INDEX CONCURRENTLY */
	STEP_VERIFY,        /* BUILD, VERIFY: state of the index */
	STEP_CHECK,         /* BUILD: after a failure, is there a leftover? */
	STEP_DROP_LEFTOVER, /* BUILD: DROP it */
	STEP_SEND,          /* STMT, DROP: the statement */
	STEP_BEGIN,         /* SWAP */
	STEP_RENAME_OLD,
	STEP_MARK_OLD, /* SWAP: COMMENT ON the old index, in the same transaction */
	STEP_RENAME_NEW,
	STEP_COMMIT,
	STEP_ROLLBACK,
	STEP_DONE,
	STEP_FAILED
} unit_step;

typedef struct unit
{
	unit_kind kind;
	char     *label;         /* "\"idx\" on \"s.t\"" */
	char     *sql;           /* CREATE, the statement, or the DROP */
	char     *schema;        /* schema of the index */
	char     *name;          /* the index */
	char     *table_oid;     /* its table (BUILD, VERIFY) */
	char     *table_label;   /* "s.t" */
	char     *swap_old_sql;  /* SWAP: rename the old index away */
	char     *swap_new_sql;  /* SWAP: rename the new one in */
	char     *mark_old;      /* SWAP: the COMMENT that marks the old index ours */
	char     *swap_old_name; /* SWAP: the old index after the rename, quoted */
	bool      user_sql;      /* sql is the user's CREATE INDEX: runs with search_path =
								 * the definition's schema */
	bool      drop_first;
	bool      created; /* BUILD: a CREATE ran in this attempt */
	unit_step step;
	int       attempt; /* 1-based */
	db_error  err;     /* the failure being handled */
} unit;

typedef struct job
{
	plan_item *item;
	unit      *units;
	int        n_units;
	int        cur;
	int64_t    started_ms;
	bool       failed;
	char      *left_behind; /* an invalid index we could not drop */
} job;

typedef struct work_table
{
	const char *schema;
	const char *table;
	int64_t     bytes;
	int        *items; /* plan item indexes */
	int         n_items;
	int         next; /* next item to start */
} work_table;

typedef struct slot
{
	parallel_slot ps;
	int           pid;         /* backend pid */
	char         *search_path; /* schema the session resolves names in */
	int           table;       /* work_table in hand, -1 when idle */
	job          *job;
	int64_t       not_before;     /* backoff until then */
	bool          watchdog_fired; /* cancelled for a lock wait */
	bool          deadline_fired; /* cancelled at the cleanup bound */
	/* what the monitor last saw */
	int64_t      relation_wait_since;
	int64_t      lock_wait_since;
	int64_t      last_wait_report;
	int64_t      last_progress_log;
	blocker_list blockers;
	char         phase[64];
	int          pct; /* -1 when unknown */
	char         progress_detail[96];
} slot;

typedef struct engine
{
	const build_env        *env;
	const indexer_settings *set;
	plan_item              *items;
	int                     n_items;
	job                    *jobs; /* one per item, by item index */
	work_table             *tables;
	int                     n_tables;
	int                     next_table;
	slot                   *slots;
	int                     n_slots;
	build_summary          *sum;
	bool                    stop_new;     /* a critical failure: start nothing new */
	bool                    interrupting; /* a signal: cancel, clean up, stop */
	int64_t                 cleanup_deadline;
	int64_t                 next_monitor;
	bool                    monitor_broken;
	char                   *stopped;     /* why no new build starts (lost run lock,
										  * a failed select()) */
	bool                    loop_failed; /* the run fails: select() failed, or work
										  * was left unstarted */
	bool                    bar;         /* draw a progress bar on the terminal */
	bool                    bar_drawn;
	int64_t                 last_bar;
} engine;

/* ---- output ---------------------------------------------------------------- */

static void
bar_clear(engine *e)
{
	if (e->bar_drawn)
	{
		fputs("\r\033[K", stderr);
		fflush(stderr);
		e->bar_drawn = false;
	}
}

/* log_event, after taking the progress bar off the line */
static void elog(engine *e, log_level level, const char *event, const log_field *fields, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
elog(engine *e, log_level level, const char *event, const log_field *fields, const char *fmt, ...)
{
	va_list ap;
	strbuf  sb;

	bar_clear(e);
	strbuf_init(&sb);
	va_start(ap, fmt);
	strbuf_vappendf(&sb, fmt, ap);
	va_end(ap);
	log_event(level, event, fields, "%s", sb.data);
	strbuf_free(&sb);
}

static void
format_ms(int64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%lldms", (long long) ms);
	else
		snprintf(buf, len, "%.1fs", (double) ms / 1000.0);
}

static char *
qualified(const char *schema, const char *name)
{
	char *qs = index_sql_quote_ident(schema);
	char *qn = index_sql_quote_ident(name);
	char *q = xasprintf("%s.%s", qs, qn);

	free(qs);
	free(qn);
	return q;
}

/* ---- units ----------------------------------------------------------------- */

static unit *
add_unit(job *j, unit_kind kind, const char *schema, const char *name, const char *table_label)
{
	unit *u;

	j->units = xrealloc(j->units, sizeof(unit) * (size_t) (j->n_units + 1));
	u = &j->units[j->n_units++];
	memset(u, 0, sizeof(*u));
	u->kind = kind;
	u->schema = xstrdup(schema);
	u->name = xstrdup(name);
	u->table_label = xstrdup(table_label);
	u->label = xasprintf("\"%s\" on \"%s\"", name, table_label);
	u->attempt = 1;
	switch (kind)
	{
		case UNIT_BUILD:
			u->step = STEP_CREATE;
			break;
		case UNIT_SWAP:
			u->step = STEP_BEGIN;
			break;
		case UNIT_VERIFY:
			u->step = STEP_VERIFY;
			break;
		default:
			u->step = STEP_SEND;
			break;
	}
	return u;
}

static void
add_drop(job *j, const char *schema, const char *name, const char *table_label)
{
	unit *u = add_unit(j, UNIT_DROP, schema, name, table_label);
	char *q = qualified(schema, name);

	u->sql = xasprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", q);
	free(q);
}

static void
add_build(job *j, const index_def *def, const char *name, const char *schema, const char *table,
		  const char *table_oid, bool drop_first)
{
	char            *label = xasprintf("%s.%s", schema, table);
	unit            *u = add_unit(j, UNIT_BUILD, schema, name, label);
	index_sql_target t = {name, schema, table, true, true, false};

	u->sql = index_sql_render(def->parsed, &t);
	u->user_sql = true;
	u->table_oid = xstrdup(table_oid);
	u->drop_first = drop_first;
	if (drop_first)
		u->step = STEP_DROP_FIRST;
	free(label);
}

/* user_sql: sql is rendered from the definition (ON ONLY), not ours */
static void
add_stmt(job *j, const char *schema, const char *name, const char *table_label, char *sql, bool user_sql)
{
	unit *u = add_unit(j, UNIT_STMT, schema, name, table_label);

	u->sql = sql;
	u->user_sql = user_sql;
}

static void
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

/* The units of an item, as far as they are known before it starts. */
static void
job_prepare(job *j, plan_item *it)
{
	const index_def *d = it->def;
	char            *table_label = xasprintf("%s.%s", d->schema, d->table);
	char            *tmp;

	j->item = it;
	/* our own leftovers (of an interrupted rebuild) go first */
	for (int i = 0; i < it->n_drop_first; i++)
		add_drop(j, d->schema, it->drop_first[i], table_label);

	switch (it->action)
	{
		case ACT_BUILD:
			if (it->partitioned)
			{
				index_sql_target t = {d->name, d->schema, d->table, false, true, true};

				/* the parent's index: created ON ONLY, invalid until all are attached */
				add_stmt(j, d->schema, d->name, table_label, index_sql_render(d->parsed, &t), true);
				add_unit(j, UNIT_EXPAND, d->schema, d->name, table_label);
			}
			else
				add_build(j, d, d->name, d->schema, d->table, it->cat->table_oid, false);
			break;
		case ACT_REPAIR:
			add_build(j, d, d->name, d->schema, d->table, it->cat->table_oid, true);
			break;
		case ACT_REBUILD:
		{
			char *old = catalog_derived_name(d->name, "_ixold");
			char *qs = index_sql_quote_ident(d->schema);
			char *qname = index_sql_quote_ident(d->name);
			char *qtmp;
			char *qold = index_sql_quote_ident(old);
			unit *u;

			tmp = catalog_derived_name(d->name, "_ixnew");
			qtmp = index_sql_quote_ident(tmp);
			add_build(j, d, tmp, d->schema, d->table, it->cat->table_oid, false);
			u = add_unit(j, UNIT_SWAP, d->schema, d->name, table_label);
			u->swap_old_sql = xasprintf("ALTER INDEX %s.%s RENAME TO %s", qs, qname, qold);
			u->swap_new_sql = xasprintf("ALTER INDEX %s.%s RENAME TO %s", qs, qtmp, qname);
			u->mark_old = plan_ixold_mark(d->name);
			u->swap_old_name = xasprintf("%s.%s", qs, qold);
			add_drop(j, d->schema, old, table_label);
			free(old);
			free(qs);
			free(qname);
			free(qtmp);
			free(qold);
			free(tmp);
		}
		break;
		case ACT_DROP:
			add_drop(j, d->schema, d->name, table_label);
			break;
		default:
			break; /* CLEANUP: the drops above are all */
	}
	free(table_label);
}

/*
 * The partition recipe, once the parent's index exists: an ON ONLY index on
 * every sub-partitioned partition, a concurrent build on every leaf, each
 * attached to its parent's index; then the parent must be valid.  Runs its
 * two catalog queries synchronously (no lock is taken).  Adds units to j,
 * which moves them: no unit pointer survives the call.  Returns false with
 * error filled on failure.
 */
static bool
expand_partitions(slot *s, job *j, db_error *error)
{
	const index_def     *d = j->item->def;
	catalog_partition   *parts = NULL;
	int                  n;
	char               **derived;
	catalog_index_state *states;
	const char         **schemas;
	const char         **oids;
	bool                 ok = true;
	char                *table_label = xasprintf("%s.%s", d->schema, d->table);

	n = catalog_partitions(s->ps.conn, j->item->cat->table_oid, d->schema, d->name, &parts, error);
	if (n < 0)
	{
		free(table_label);
		return false;
	}
	derived = xcalloc((size_t) (n + 1), sizeof(char *));
	states = xcalloc((size_t) (n + 1), sizeof(catalog_index_state));
	schemas = xcalloc((size_t) (n + 1), sizeof(char *));
	oids = xcalloc((size_t) (n + 1), sizeof(char *));
	for (int i = 0; i < n; i++)
	{
		char *suffix = xasprintf("_%s", parts[i].name);

		derived[i] = catalog_derived_name(d->name, suffix);
		schemas[i] = parts[i].schema;
		oids[i] = parts[i].oid;
		free(suffix);
	}
	if (n > 0 &&
		!catalog_index_states(s->ps.conn, schemas, (const char *const *) derived, oids, n, states, error))
	{
		ok = false;
		goto done;
	}

	for (int i = 0; i < n && ok; i++)
	{
		catalog_partition *p = &parts[i];

		if (p->kind == 'f')
		{
			error->cls = PGERR_OTHER;
			error->message = xasprintf(
				"partition \"%s.%s\" is a foreign table, which cannot have an index: the index of \"%s\" cannot become valid",
				p->schema, p->name, table_label);
			ok = false;
		}
		else if (p->attached_index && !p->attached_valid && p->kind != 'p')
		{
			error->cls = PGERR_OTHER;
			error->message =
				xasprintf("index \"%s\" of partition \"%s.%s\" is attached but not valid; drop it by hand",
						  p->attached_index, p->schema, p->name);
			ok = false;
		}
		else if (!p->attached_index && states[i].exists && !states[i].on_table)
		{
			error->cls = PGERR_OTHER;
			error->message =
				xasprintf("the name \"%s.%s\" for the index of partition \"%s\" is taken by another relation",
						  p->schema, derived[i], p->name);
			ok = false;
		}
	}
	if (!ok)
		goto done;

	/* parents come before their children: ON ONLY first, top down */
	for (int i = 0; i < n; i++)
	{
		catalog_partition *p = &parts[i];
		char              *plabel = xasprintf("%s.%s", p->schema, p->name);

		if (p->attached_index == NULL && p->kind == 'p' && !states[i].exists)
		{
			index_sql_target t = {derived[i], p->schema, p->name, false, true, true};

			add_stmt(j, p->schema, derived[i], plabel, index_sql_render(d->parsed, &t), true);
		}
		else if (p->attached_index == NULL && p->kind != 'p' && !(states[i].exists && states[i].valid))
			add_build(j, d, derived[i], p->schema, p->name, p->oid, states[i].exists);
		free(plabel);
	}
	/* then attach, bottom up */
	for (int level = n > 0 ? parts[n - 1].level : 0; level >= 1; level--)
	{
		for (int i = 0; i < n; i++)
		{
			catalog_partition *p = &parts[i];
			const char        *parent_schema = d->schema;
			const char        *parent_index = d->name;
			char              *qparent;
			char              *qchild;

			if (p->level != level || p->attached_index != NULL)
				continue;
			/* the index to attach to: the parent partition's */
			for (int k = 0; k < n; k++)
			{
				if (strcmp(parts[k].oid, p->parent_oid) == 0)
				{
					parent_schema = parts[k].schema;
					parent_index = parts[k].attached_index ? parts[k].attached_index : derived[k];
				}
			}
			qparent = qualified(parent_schema, parent_index);
			qchild = qualified(p->schema, derived[i]);
			add_stmt(j, p->schema, derived[i], table_label,
					 xasprintf("ALTER INDEX %s ATTACH PARTITION %s", qparent, qchild), false);
			free(qparent);
			free(qchild);
		}
	}
	{
		unit *v = add_unit(j, UNIT_VERIFY, d->schema, d->name, table_label);

		v->table_oid = xstrdup(j->item->cat->table_oid);
	}
	log_event(LOG_LEVEL_INFO, "partitions", NULL,
			  "\"%s\" on partitioned table \"%s\": %d partition%s, %d step%s to go", d->name, table_label, n,
			  n == 1 ? "" : "s", j->n_units - j->cur - 1, j->n_units - j->cur - 1 == 1 ? "" : "s");

done:
	for (int i = 0; i < n; i++)
		free(derived[i]);
	free(derived);
	free(states);
	free(schemas);
	free(oids);
	catalog_partitions_free(parts, n);
	free(table_label);
	return ok;
}

/* ---- slots ------------------------------------------------------------------ */

/* The session of a build connection (see build.h).  false after logging. */
static bool
setup_session(engine *e, slot *s)
{
	const indexer_settings *set = e->set;
	const char             *keys[6];
	const char             *vals[6];
	char                    st[32], mwm[32], mpmw[16];
	int                     n = 0;
	char                   *values[2];
	db_error                err = {0};
	bool                    ok;

	snprintf(st, sizeof(st), "%lldms", (long long) set->statement_timeout_ms);
	keys[n] = "statement_timeout", vals[n++] = st;
	/* the watchdog bounds the wait for the table lock, see build.h */
	keys[n] = "lock_timeout", vals[n++] = "0";
	if (set->maintenance_work_mem_kb > 0)
	{
		snprintf(mwm, sizeof(mwm), "%lldkB", (long long) set->maintenance_work_mem_kb);
		keys[n] = "maintenance_work_mem", vals[n++] = mwm;
	}
	if (set->max_parallel_maintenance_workers >= 0)
	{
		snprintf(mpmw, sizeof(mpmw), "%d", set->max_parallel_maintenance_workers);
		keys[n] = "max_parallel_maintenance_workers", vals[n++] = mpmw;
	}
	/* a build whose client died stops within a second (PostgreSQL 14+) */
	if (PQserverVersion(s->ps.conn) >= 140000)
		keys[n] = "client_connection_check_interval", vals[n++] = "1s";
	values[0] = db_text_array_literal(keys, n);
	values[1] = db_text_array_literal(vals, n);
	ok = db_run(s->ps.conn,
				"SELECT pg_catalog.set_config(k, v, false) FROM unnest($1::text[], $2::text[]) AS s(k, v)", 2,
				(const char *const *) values, PGRES_TUPLES_OK, NULL, &err, NULL);
	if (!ok)
	{
		char *msg = db_error_format(&err);

		elog(e, LOG_LEVEL_ERROR, "session_failed", NULL, "could not set up a build connection: %s", msg);
		free(msg);
	}
	db_error_clear(&err);
	free(values[0]);
	free(values[1]);
	s->pid = PQbackendPID(s->ps.conn);
	free(s->search_path);
	s->search_path = xstrdup(""); /* conn_open leaves it empty */
	return ok;
}

static bool
slot_connect(engine *e, slot *s)
{
	PGconn *conn = conn_open_for_build(e->env->conn_opts);

	if (conn == NULL)
		return false;
	parallel_slot_init(&s->ps, conn);
	if (!setup_session(e, s))
	{
		conn_close(conn);
		s->ps.conn = NULL;
		return false;
	}
	return true;
}

/*
 * Set the session's search_path to schema ("" for the empty path) unless it
 * is already that (sync, no lock).  Only the user's own CREATE INDEX runs
 * with the definition's schema, so that an operator class or function
 * installed there resolves as the author meant; everything the indexer
 * writes itself runs with the empty path and resolves only in pg_catalog.
 */
static bool
slot_search_path(engine *e, slot *s, const char *schema, db_error *err)
{
	char       *q;
	const char *values[1];
	bool        ok;

	(void) e;
	if (s->search_path && strcmp(s->search_path, schema) == 0)
		return true;
	q = schema[0] ? index_sql_quote_ident(schema) : xstrdup("");
	values[0] = q;
	/* uninterruptible: after a signal, the clean-up needs it (it takes no lock) */
	ok = db_run_ex(s->ps.conn, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, values,
				   PGRES_TUPLES_OK, NULL, err, NULL, false);
	free(q);
	free(s->search_path);
	/* unknown after a failure: set it again before the next statement */
	s->search_path = ok ? xstrdup(schema) : NULL;
	return ok;
}

static void
slot_reset_watch(slot *s)
{
	s->watchdog_fired = false;
	s->deadline_fired = false;
	s->relation_wait_since = 0;
	s->lock_wait_since = 0;
	s->last_wait_report = 0;
	s->phase[0] = '\0';
	s->pct = -1;
	s->progress_detail[0] = '\0';
}

/* ---- sending and deciding ------------------------------------------------- */

static bool
retryable(const db_error *err)
{
	pgerr_action a = pgerr_action_for(err->cls);

	return a == PGERR_ACTION_RETRY || a == PGERR_ACTION_RECONNECT;
}

/* Send on s; false with err filled when it could not be sent at all. */
static bool
send_statement(engine *e, slot *s, const char *sql, int nparams, const char *const *values,
			   ExecStatusType expect, db_error *err)
{
	slot_reset_watch(s);
	log_event(LOG_LEVEL_DEBUG, "statement", NULL, "slot %d: %s", (int) (s - e->slots) + 1, sql);
	if (parallel_slot_send(&s->ps, sql, nparams, values, expect, err))
		return true;
	if (PQstatus(s->ps.conn) == CONNECTION_BAD)
		err->cls = PGERR_CONNECTION_LOST;
	return false;
}

static void unit_result(engine *e, slot *s, job *j, unit *u, bool ok, PGresult *res, db_error *err);

/*
 * After a failure of u (err in u->err): retry after a backoff when the
 * error is transient and attempts are left, otherwise fail the unit.
 * restart is the step a retry begins with.
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

		format_ms(delay, dbuf, sizeof(dbuf));
		elog(e, LOG_LEVEL_WARNING, "retry", NULL, "%s: %s (%s); retrying in %s (attempt %d of %d)", u->label,
			 msg, pgerr_class_name(u->err.cls), dbuf, u->attempt + 1, max_attempts);
		free(msg);
		u->attempt++;
		s->not_before = monotonic_ms() + delay;
		u->step = restart;
		u->created = false;
	}
	else
		u->step = STEP_FAILED;
}

/* Is the statement u sends next the user's own CREATE INDEX? */
static bool
user_statement(const unit *u)
{
	return u->user_sql && ((u->kind == UNIT_BUILD && u->step == STEP_CREATE) ||
						   (u->kind == UNIT_STMT && u->step == STEP_SEND));
}

/* Send what u needs next; or settle it (DONE/FAILED) without a round trip. */
static void
unit_advance(engine *e, slot *s, job *j, unit *u)
{
	const char        *state_values[3] = {u->schema, u->name, u->table_oid};
	const char        *sql = NULL;
	char              *owned = NULL;
	int                nparams = 0;
	const char *const *values = NULL;
	ExecStatusType     expect = PGRES_COMMAND_OK;
	db_error           err = {0};

	/*
	 * After a failed build or verify, look over the run's main connection:
	 * the slot's session may be the thing that is broken (lost, or left in a
	 * state where nothing runs), and an index that is valid, ready and on
	 * its table is built whatever the slot said.
	 */
	if (u->step == STEP_CHECK && !e->monitor_broken && PQstatus(e->env->monitor) != CONNECTION_OK)
		e->monitor_broken = true; /* lost with the server: look over the slot's own, new, connection */
	if (u->step == STEP_CHECK && !e->monitor_broken)
	{
		PGresult *res = NULL;
		bool ok = db_run_ex(e->env->monitor, CATALOG_INDEX_STATE_SQL, 3, state_values, PGRES_TUPLES_OK, &res,
							&err, NULL, false);

		if (!ok && PQstatus(e->env->monitor) != CONNECTION_OK)
		{
			/* the monitor died under this look: look again over the slot's connection */
			e->monitor_broken = true;
			PQclear(res);
			db_error_clear(&err);
			return;
		}

		unit_result(e, s, j, u, ok, res, &err);
		PQclear(res);
		db_error_clear(&err);
		return;
	}

	/* a lost connection: reconnect first (a retry has waited its backoff) */
	if (s->ps.conn == NULL || PQstatus(s->ps.conn) != CONNECTION_OK)
	{
		parallel_slot_abandon(&s->ps);
		conn_close(s->ps.conn);
		s->ps.conn = NULL;
		if (e->interrupting || !slot_connect(e, s))
		{
			db_error_clear(&u->err);
			if (err.message != NULL)
				u->err = err;
			else
			{
				u->err.cls = PGERR_CONNECTION_LOST;
				u->err.message = xstrdup("the connection was lost and could not be opened again");
			}
			if (e->interrupting)
				u->step = STEP_FAILED;
			else
				unit_retry_or_fail(e, s, u, u->step);
			return;
		}
	}

	switch (u->step)
	{
		case STEP_DROP_FIRST:
			elog(e, LOG_LEVEL_INFO, "repair", NULL, "%s: dropping the invalid index left by an earlier build",
				 u->label);
			/* FALLTHROUGH */
		case STEP_DROP_LEFTOVER:
		{
			char *q = qualified(u->schema, u->name);

			owned = xasprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", q);
			sql = owned;
			free(q);
		}
		break;
		case STEP_CREATE:
			if (u->attempt == 1)
				elog(e, LOG_LEVEL_INFO, "build_start", NULL, "building %s", u->label);
			u->created = true;
			sql = u->sql;
			break;
		case STEP_VERIFY:
		case STEP_CHECK:
			sql = CATALOG_INDEX_STATE_SQL;
			nparams = 3;
			values = state_values;
			expect = PGRES_TUPLES_OK;
			break;
		case STEP_SEND:
			if (u->kind == UNIT_EXPAND)
			{
				bool ok = slot_search_path(e, s, "", &err) && expand_partitions(s, j, &err);

				/* the units moved: find this one again */
				u = &j->units[j->cur];
				u->step = ok ? STEP_DONE : STEP_FAILED;
				if (!ok)
				{
					db_error_clear(&u->err);
					u->err = err;
				}
				return;
			}
			sql = u->sql;
			break;
		case STEP_BEGIN:
			sql = "BEGIN";
			break;
		case STEP_RENAME_OLD:
			sql = u->swap_old_sql;
			break;
		case STEP_MARK_OLD:
		{
			/* a literal made by libpq: the mark holds the index name */
			char *lit = PQescapeLiteral(s->ps.conn, u->mark_old, strlen(u->mark_old));

			owned = xasprintf("COMMENT ON INDEX %s IS %s", u->swap_old_name, lit ? lit : "NULL");
			PQfreemem(lit);
			sql = owned;
		}
		break;
		case STEP_RENAME_NEW:
			sql = u->swap_new_sql;
			break;
		case STEP_COMMIT:
			sql = "COMMIT";
			break;
		case STEP_ROLLBACK:
			sql = "ROLLBACK";
			break;
		case STEP_DONE:
		case STEP_FAILED:
			return;
	}
	/* the definition's schema for the user's statement only, see slot_search_path */
	if (!slot_search_path(e, s, user_statement(u) ? j->item->def->schema : "", &err))
		unit_result(e, s, j, u, false, NULL, &err);
	else if (!send_statement(e, s, sql, nparams, values, expect, &err))
		unit_result(e, s, j, u, false, NULL, &err);
	db_error_clear(&err);
	free(owned);
}

/* The statement of u completed: ok, or failed with err (taken over). */
static void
unit_result(engine *e, slot *s, job *j, unit *u, bool ok, PGresult *res, db_error *err)
{
	catalog_index_state st;

	if (!ok)
	{
		db_error_clear(&u->err);
		u->err = *err;
		memset(err, 0, sizeof(*err));
		if (s->watchdog_fired && u->err.cls == PGERR_CANCELED_BY_US)
		{
			char buf[32];

			/* our watchdog: the table lock did not come in time */
			format_duration(e->set->lock_timeout_ms, buf, sizeof(buf));
			free(u->err.message);
			u->err.message = xasprintf("gave up waiting for a lock on \"%s\" after --lock-timeout %s",
									   u->table_label, buf);
			u->err.cls = PGERR_LOCK_TIMEOUT;
			u->err.sqlstate[0] = '\0';
		}
		else if (s->deadline_fired && u->err.cls == PGERR_CANCELED_BY_US)
		{
			free(u->err.message);
			u->err.message = xstrdup("canceled at the clean-up bound after the signal");
			u->err.sqlstate[0] = '\0';
		}
	}

	switch (u->step)
	{
		case STEP_DROP_FIRST:
			if (ok)
				u->step = STEP_CREATE;
			else
				unit_retry_or_fail(e, s, u, STEP_DROP_FIRST);
			break;
		case STEP_CREATE:
			u->step = ok ? STEP_VERIFY : STEP_CHECK;
			break;
		case STEP_VERIFY:
			if (!ok)
			{
				u->step = STEP_CHECK;
				break;
			}
			catalog_index_state_from(res, &st);
			if (st.exists && st.valid && st.ready && st.on_table)
				u->step = STEP_DONE;
			else
			{
				db_error_clear(&u->err);
				u->err.cls = PGERR_OTHER;
				u->err.message = xstrdup(
					!st.exists     ? "the index does not exist after the build"
					: !st.on_table ? "an index of that name exists on another table"
					: u->kind == UNIT_VERIFY
						? "the index of the partitioned table is still not valid after attaching every partition"
						: "the index is not valid after the build");
				/* a partitioned parent is never dropped here */
				u->step = u->kind == UNIT_BUILD && st.on_table ? STEP_DROP_LEFTOVER : STEP_FAILED;
			}
			break;
		case STEP_CHECK:
			if (!ok)
			{
				bool created = u->created;

				/* a lost connection: look again on a new one */
				unit_retry_or_fail(e, s, u, STEP_CHECK);
				u->created = created;
				if (u->step != STEP_FAILED)
					break;
				/* cannot look: keep the error, note the doubt */
				elog(e, LOG_LEVEL_WARNING, "leftover_unknown", NULL,
					 "%s: could not check for a leftover index: %s", u->label, u->err.message);
				j->left_behind = j->left_behind ? j->left_behind : xstrdup(u->name);
				break;
			}
			catalog_index_state_from(res, &st);
			if (u->kind == UNIT_BUILD && u->created && st.exists && st.valid && st.ready && st.on_table)
			{
				char *msg = db_error_format(&u->err);

				/* the index is there and usable: whatever failed came after */
				elog(e, LOG_LEVEL_WARNING, "built_despite_error", NULL,
					 "%s: valid and ready on its table although the build reported: %s; counted as built",
					 u->label, msg);
				free(msg);
				u->step = STEP_DONE;
			}
			else if (st.exists && st.on_table && !st.valid && u->created)
				u->step = STEP_DROP_LEFTOVER;
			else
				unit_retry_or_fail(e, s, u, STEP_CREATE);
			break;
		case STEP_DROP_LEFTOVER:
			if (ok)
			{
				elog(e, LOG_LEVEL_INFO, "leftover_dropped", NULL,
					 "%s: dropped the invalid index the failed build left", u->label);
				unit_retry_or_fail(e, s, u, STEP_CREATE);
			}
			else
			{
				char *msg = db_error_format(&u->err);

				elog(e, LOG_LEVEL_WARNING, "leftover_kept", NULL,
					 "%s: could not drop the invalid index the failed build left: %s", u->label, msg);
				free(msg);
				unit_retry_or_fail(e, s, u, STEP_DROP_LEFTOVER);
				if (u->step == STEP_FAILED)
				{
					free(j->left_behind);
					j->left_behind = xstrdup(u->name);
				}
			}
			break;
		case STEP_SEND:
			if (ok)
				u->step = STEP_DONE;
			else
				unit_retry_or_fail(e, s, u, STEP_SEND);
			break;
		case STEP_BEGIN:
			u->step = ok ? STEP_RENAME_OLD : STEP_FAILED;
			if (!ok)
				unit_retry_or_fail(e, s, u, STEP_BEGIN);
			break;
		case STEP_RENAME_OLD:
		case STEP_MARK_OLD:
		case STEP_RENAME_NEW:
		case STEP_COMMIT:
			if (ok)
				u->step = u->step == STEP_RENAME_OLD   ? STEP_MARK_OLD
						  : u->step == STEP_MARK_OLD   ? STEP_RENAME_NEW
						  : u->step == STEP_RENAME_NEW ? STEP_COMMIT
													   : STEP_DONE;
			else if (PQstatus(s->ps.conn) == CONNECTION_OK && PQtransactionStatus(s->ps.conn) != PQTRANS_IDLE)
				u->step = STEP_ROLLBACK;
			else
				unit_retry_or_fail(e, s, u, STEP_BEGIN);
			break;
		case STEP_ROLLBACK:
			/* the swap's own error decides; the rollback's is irrelevant */
			if (!ok)
				elog(e, LOG_LEVEL_DEBUG, NULL, NULL, "%s: rollback failed", u->label);
			unit_retry_or_fail(e, s, u, STEP_BEGIN);
			break;
		case STEP_DONE:
		case STEP_FAILED:
			break;
	}
}

/* ---- jobs ------------------------------------------------------------------ */

static const char *
done_verb(plan_action a)
{
	switch (a)
	{
		case ACT_REPAIR:
			return "repaired";
		case ACT_REBUILD:
			return "rebuilt";
		case ACT_DROP:
			return "dropped";
		case ACT_CLEANUP:
			return "dropped the leftovers of";
		default:
			return "built";
	}
}

static void
job_finish(engine *e, slot *s, job *j)
{
	plan_item       *it = j->item;
	const index_def *d = it->def;
	char             dur[32];
	unit            *failed = NULL;
	log_field fields[] = {{"index", d->name}, {"critical", d->critical ? "true" : "false"}, {NULL, NULL}};

	it->duration_ms = monotonic_ms() - j->started_ms;
	format_ms(it->duration_ms, dur, sizeof(dur));
	for (int i = 0; i < j->n_units; i++)
		if (j->units[i].step == STEP_FAILED)
			failed = &j->units[i];

	if (failed == NULL && j->cur >= j->n_units)
	{
		it->outcome = OUTCOME_DONE;
		switch (it->action)
		{
			case ACT_REPAIR:
				e->sum->repaired++;
				break;
			case ACT_REBUILD:
				e->sum->rebuilt++;
				break;
			case ACT_DROP:
				e->sum->dropped++;
				break;
			case ACT_CLEANUP:
				e->sum->cleaned++;
				break;
			default:
				e->sum->built++;
		}
		elog(e, LOG_LEVEL_INFO, "done", fields, "%s \"%s\" on \"%s.%s\" in %s", done_verb(it->action),
			 d->name, d->schema, d->table, dur);
		return;
	}

	{
		char  *msg = failed ? db_error_format(&failed->err) : xstrdup("interrupted");
		strbuf sb;

		strbuf_init(&sb);
		if (failed && strcmp(failed->name, d->name) != 0)
			strbuf_appendf(&sb, "%s: ", failed->label);
		strbuf_append(&sb, msg);
		if (failed && failed->attempt > 1)
			strbuf_appendf(&sb, " (after %d attempts)", failed->attempt);
		if (failed && failed->err.detail)
			strbuf_appendf(&sb, "; detail: %s", failed->err.detail);
		if (j->left_behind)
			strbuf_appendf(&sb, "; the invalid index \"%s.%s\" is left behind: the next run repairs it",
						   failed ? failed->schema : d->schema, j->left_behind);
		it->failure = strbuf_detach(&sb);
		free(msg);
	}
	if (e->interrupting && (failed == NULL || failed->err.cls == PGERR_CANCELED_BY_US))
	{
		it->outcome = OUTCOME_INTERRUPTED;
		e->sum->interrupted++;
		elog(e, LOG_LEVEL_WARNING, "interrupted", fields, "\"%s\" on \"%s.%s\" interrupted: %s", d->name,
			 d->schema, d->table, it->failure);
		return;
	}
	it->outcome = OUTCOME_FAILED;
	if (d->critical && d->state == INDEX_STATE_PRESENT)
	{
		e->sum->failed_critical++;
		e->stop_new = true;
		elog(e, LOG_LEVEL_ERROR, "failed", fields, "critical index \"%s\" on \"%s.%s\" failed: %s", d->name,
			 d->schema, d->table, it->failure);
	}
	else
	{
		e->sum->failed_noncritical++;
		elog(e, LOG_LEVEL_WARNING, "failed", fields,
			 "could not %s \"%s\" on \"%s.%s\": %s (not critical: the run goes on)",
			 it->action == ACT_DROP      ? "drop"
			 : it->action == ACT_REBUILD ? "rebuild"
										 : "build",
			 d->name, d->schema, d->table, it->failure);
	}
}

/*
 * Does the run's main connection still hold its advisory lock?  Asked
 * before each new job: without the lock another run may start the same
 * builds.  Sets e->stopped when not.
 */
static bool
run_lock_held(engine *e)
{
	PGresult *res = NULL;
	db_error  err = {0};
	bool      held;

	if (e->stopped)
		return false;
	held = !e->monitor_broken &&
		   db_run(e->env->monitor,
				  "/* indexer: run lock */ SELECT pg_catalog.count(*) > 0 FROM pg_catalog.pg_locks "
				  "WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid() AND granted",
				  0, NULL, PGRES_TUPLES_OK, &res, &err, NULL) &&
		   strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	db_error_clear(&err);
	if (!held && !cancel_pending())
	{
		e->stopped = xstrdup("the run lock was lost (the run's main connection is gone)");
		elog(e, LOG_LEVEL_ERROR, "run_lock_lost", NULL, "%s: starting no new build", e->stopped);
	}
	return held;
}

/* Hand the slot its next job: the next item of its table, or a new table. */
static void
slot_take_work(engine *e, slot *s)
{
	for (;;)
	{
		work_table *t;
		job        *j;

		if (s->table < 0)
		{
			if (e->stop_new || e->interrupting || e->stopped || e->next_table >= e->n_tables)
				return;
			s->table = e->next_table++;
		}
		t = &e->tables[s->table];
		if (t->next >= t->n_items || e->stop_new || e->interrupting || e->stopped)
		{
			s->table = -1;
			if (e->stop_new || e->interrupting || e->stopped)
				return;
			continue;
		}
		if (!run_lock_held(e))
		{
			s->table = -1;
			return;
		}
		j = &e->jobs[t->items[t->next++]];
		j->started_ms = monotonic_ms();
		s->job = j;
		s->not_before = 0;
		return;
	}
}

/* Move s's job on as far as it can go without waiting. */
static void
slot_step(engine *e, slot *s)
{
	while (s->job != NULL && !s->ps.busy && monotonic_ms() >= s->not_before)
	{
		job  *j = s->job;
		unit *u;

		if (j->cur >= j->n_units)
		{
			job_finish(e, s, j);
			s->job = NULL;
			slot_take_work(e, s);
			continue;
		}
		u = &j->units[j->cur];
		if (u->step == STEP_DONE)
		{
			j->cur++;
			continue;
		}
		if (u->step == STEP_FAILED)
		{
			j->failed = true;
			job_finish(e, s, j);
			s->job = NULL;
			slot_take_work(e, s);
			continue;
		}
		/* after a signal, nothing new starts; clean-up steps go on */
		if (e->interrupting && (u->step == STEP_CREATE || u->step == STEP_DROP_FIRST ||
								u->step == STEP_SEND || u->step == STEP_BEGIN))
		{
			db_error_clear(&u->err);
			u->err.cls = PGERR_CANCELED_BY_US;
			u->err.message = xstrdup("interrupted by a signal before its next statement");
			u->step = STEP_FAILED;
			continue;
		}
		unit_advance(e, s, j, u);
	}
}

/* ---- monitor: watchdog and progress -------------------------------------- */

static const char *const monitor_sql =
	"/* indexer: monitor */ "
	"SELECT w.pid, coalesce(a.wait_event_type, ''), coalesce(a.wait_event, ''), "
	"       coalesce(p.phase, ''), coalesce(p.blocks_total, 0), coalesce(p.blocks_done, 0), "
	"       coalesce(p.tuples_total, 0), coalesce(p.tuples_done, 0), "
	"       coalesce(p.lockers_total, 0), coalesce(p.lockers_done, 0), "
	"       coalesce(p.partitions_total, 0), coalesce(p.partitions_done, 0) "
	"FROM unnest($1::int[]) AS w(pid) "
	"LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid "
	"LEFT JOIN pg_catalog.pg_stat_progress_create_index p ON p.pid = w.pid";

static slot *
slot_by_pid(engine *e, int pid)
{
	for (int i = 0; i < e->n_slots; i++)
		if (e->slots[i].ps.busy && e->slots[i].pid == pid)
			return &e->slots[i];
	return NULL;
}

static int
percent(long long done, long long total)
{
	if (total <= 0)
		return -1;
	if (done < 0)
		done = 0;
	if (done > total)
		done = total;
	return (int) (done * 100 / total);
}

/* name our own builds among the blockers: they wait for each other */
static void
report_wait(engine *e, slot *s, const char *wait_event, int64_t waited)
{
	unit  *u = &s->job->units[s->job->cur];
	char   dur[32];
	strbuf own;

	format_ms(waited, dur, sizeof(dur));
	strbuf_init(&own);
	for (int i = 0; i < s->blockers.n; i++)
	{
		slot *other = slot_by_pid(e, atoi(s->blockers.items[i].pid));

		if (other && other != s && other->job)
			strbuf_appendf(&own, "%s\"%s\"", own.len ? ", " : "", other->job->units[other->job->cur].name);
	}
	elog(e, LOG_LEVEL_INFO, "waiting", NULL, "%s: waiting %s so far for %s (%s, phase \"%s\")", u->label, dur,
		 strcmp(wait_event, "relation") == 0 ? "a lock on the table" : "older transactions to finish",
		 wait_event, s->phase[0] ? s->phase : "-");
	if (s->blockers.n > 0)
	{
		char *prefix = xasprintf("%s: ", u->label);

		bar_clear(e);
		blockers_log(&s->blockers, LOG_LEVEL_INFO, prefix);
		free(prefix);
	}
	if (own.len > 0)
		elog(
			e, LOG_LEVEL_INFO, "waiting_for_own", NULL,
			"%s waits for our own build of %s: concurrent builds of expression and partial indexes wait for each other (a PostgreSQL rule); -j gains nothing for them",
			u->label, own.data);
	strbuf_free(&own);
	s->last_wait_report = monotonic_ms();
}

static void
draw_bar(engine *e)
{
	strbuf sb;

	strbuf_init(&sb);
	for (int i = 0; i < e->n_slots; i++)
	{
		slot *s = &e->slots[i];
		unit *u;

		if (!s->ps.busy || s->job == NULL)
			continue;
		u = &s->job->units[s->job->cur];
		strbuf_appendf(&sb, "%s[%s %s", sb.len ? " " : "", u->name, s->phase[0] ? s->phase : "starting");
		if (s->pct >= 0)
			strbuf_appendf(&sb, " %d%%", s->pct);
		strbuf_append(&sb, "]");
	}
	if (sb.len > 0)
	{
		/* one line: cut to 100 columns */
		if (sb.len > 100)
		{
			sb.data[97] = sb.data[98] = sb.data[99] = '.';
			sb.data[100] = '\0';
		}
		fprintf(stderr, "\r\033[K%s", sb.data);
		fflush(stderr);
		e->bar_drawn = true;
	}
	strbuf_free(&sb);
}

static void
monitor_tick(engine *e)
{
	int         pids[INDEXER_MAX_JOBS];
	char        pidbuf[INDEXER_MAX_JOBS * 12 + 3];
	int         n = 0;
	const char *values[1] = {pidbuf};
	PGresult   *res = NULL;
	db_error    err = {0};
	int64_t     now = monotonic_ms();
	size_t      off = 0;

	for (int i = 0; i < e->n_slots; i++)
		if (e->slots[i].ps.busy && e->slots[i].pid > 0)
			pids[n++] = e->slots[i].pid;
	if (n == 0 || e->monitor_broken)
		return;
	off += (size_t) snprintf(pidbuf + off, sizeof(pidbuf) - off, "{");
	for (int i = 0; i < n; i++)
		off += (size_t) snprintf(pidbuf + off, sizeof(pidbuf) - off, "%s%d", i ? "," : "", pids[i]);
	snprintf(pidbuf + off, sizeof(pidbuf) - off, "}");

	if (!db_run(e->env->monitor, monitor_sql, 1, values, PGRES_TUPLES_OK, &res, &err, NULL))
	{
		if (!cancel_pending() && PQstatus(e->env->monitor) != CONNECTION_OK)
		{
			elog(
				e, LOG_LEVEL_WARNING, "monitor_lost", NULL,
				"lost the run's main connection: lock waits are no longer bounded by --lock-timeout, and the run lock is gone");
			e->monitor_broken = true;
			if (!e->stopped)
				e->stopped = xstrdup("the run lock was lost (the run's main connection is gone)");
		}
		db_error_clear(&err);
		return;
	}
	for (int row = 0; row < PQntuples(res); row++)
	{
		slot       *s = slot_by_pid(e, atoi(PQgetvalue(res, row, 0)));
		const char *wtype = PQgetvalue(res, row, 1);
		const char *wevent = PQgetvalue(res, row, 2);
		const char *phase = PQgetvalue(res, row, 3);
		long long   bt = atoll(PQgetvalue(res, row, 4)), bd = atoll(PQgetvalue(res, row, 5)),
				  tt = atoll(PQgetvalue(res, row, 6)), td = atoll(PQgetvalue(res, row, 7)),
				  lt = atoll(PQgetvalue(res, row, 8)), ld = atoll(PQgetvalue(res, row, 9)),
				  pt = atoll(PQgetvalue(res, row, 10)), pd = atoll(PQgetvalue(res, row, 11));
		unit *u;

		if (s == NULL || s->job == NULL)
			continue;
		u = &s->job->units[s->job->cur];
		snprintf(s->phase, sizeof(s->phase), "%s", phase);
		/* the counter that moves in this phase */
		if (strncmp(phase, "waiting for", 11) == 0)
		{
			s->pct = percent(ld, lt);
			snprintf(s->progress_detail, sizeof(s->progress_detail), "lockers %lld of %lld", ld, lt);
		}
		else if (bt > 0)
		{
			s->pct = percent(bd, bt);
			snprintf(s->progress_detail, sizeof(s->progress_detail), "blocks %lld of %lld", bd, bt);
		}
		else if (tt > 0)
		{
			s->pct = percent(td, tt);
			snprintf(s->progress_detail, sizeof(s->progress_detail), "tuples %lld of %lld", td, tt);
		}
		else if (pt > 0)
		{
			s->pct = percent(pd, pt);
			snprintf(s->progress_detail, sizeof(s->progress_detail), "partitions %lld of %lld", pd, pt);
		}
		else
		{
			s->pct = -1;
			s->progress_detail[0] = '\0';
		}

		if (strcmp(wtype, "Lock") == 0)
		{
			if (s->lock_wait_since == 0)
				s->lock_wait_since = now;
			blockers_sample(e->env->monitor, s->pid, &s->blockers);
		}
		else
		{
			s->lock_wait_since = 0;
			s->last_wait_report = 0;
		}

		if (strcmp(wtype, "Lock") == 0 && strcmp(wevent, "relation") == 0)
		{
			if (s->relation_wait_since == 0)
				s->relation_wait_since = now;
			if (e->set->lock_timeout_ms > 0 && !s->ps.cancel_sent &&
				now - s->relation_wait_since >= e->set->lock_timeout_ms)
			{
				char  buf[32];
				char *prefix = xasprintf("%s: ", u->label);

				format_duration(e->set->lock_timeout_ms, buf, sizeof(buf));
				elog(e, LOG_LEVEL_WARNING, "lock_timeout", NULL,
					 "%s: waited longer than --lock-timeout %s for a lock on the table; canceling", u->label,
					 buf);
				blockers_log(&s->blockers, LOG_LEVEL_WARNING, prefix);
				free(prefix);
				s->watchdog_fired = true;
				parallel_slot_cancel(&s->ps);
			}
		}
		else
			s->relation_wait_since = 0;

		/* waits for older transactions: progress, naming who is in the way */
		if (s->lock_wait_since != 0 && strcmp(wevent, "relation") != 0 &&
			now - s->lock_wait_since >= WAIT_FIRST_REPORT_MS &&
			(s->last_wait_report == 0 || now - s->last_wait_report >= WAIT_REPORT_MS))
			report_wait(e, s, wevent, now - s->lock_wait_since);

		if (e->set->progress && !e->bar && phase[0] != '\0' && now - s->ps.sent_ms >= PROGRESS_LOG_MS &&
			(s->last_progress_log == 0 || now - s->last_progress_log >= PROGRESS_LOG_MS))
		{
			char dur[32];
			char pct[16] = "";

			format_ms(now - s->ps.sent_ms, dur, sizeof(dur));
			if (s->pct >= 0)
				snprintf(pct, sizeof(pct), " %d%%", s->pct);
			elog(e, LOG_LEVEL_INFO, "progress", NULL, "progress: %s: %s%s%s%s%s, %s", u->label, phase, pct,
				 s->progress_detail[0] ? " (" : "", s->progress_detail, s->progress_detail[0] ? ")" : "",
				 dur);
			s->last_progress_log = now;
		}
	}
	PQclear(res);
	if (e->bar && e->set->progress && now - e->last_bar >= 500)
	{
		draw_bar(e);
		e->last_bar = now;
	}
}

/* ---- the loop -------------------------------------------------------------- */

static void
begin_interrupt(engine *e)
{
	int busy = 0;

	e->interrupting = true;
	e->cleanup_deadline = monotonic_ms() + BUILD_CLEANUP_BOUND_MS;
	for (int i = 0; i < e->n_slots; i++)
	{
		if (e->slots[i].ps.busy)
		{
			busy++;
			parallel_slot_cancel(&e->slots[i].ps);
		}
	}
	elog(e, LOG_LEVEL_WARNING, "canceling", NULL,
		 "signal %d: canceling %d statement%s in flight; dropping what they leave behind (at most %ds)",
		 cancel_pending(), busy, busy == 1 ? "" : "s", BUILD_CLEANUP_BOUND_MS / 1000);
}

/* After e->stopped: the work that never started is failed, and says why; the count. */
static int
fail_unstarted(engine *e)
{
	int n = 0;

	for (int i = 0; i < e->n_items; i++)
	{
		plan_item       *it = &e->items[i];
		const index_def *d = it->def;

		if (!plan_action_is_work(it->action) || it->outcome != OUTCOME_NONE)
			continue;
		it->outcome = OUTCOME_FAILED;
		free(it->failure);
		it->failure = xasprintf("not started: %s", e->stopped);
		if (d->critical && d->state == INDEX_STATE_PRESENT)
			e->sum->failed_critical++;
		else
			e->sum->failed_noncritical++;
		elog(e, LOG_LEVEL_ERROR, "not_started", NULL, "%s\"%s\" on \"%s.%s\" not started: %s",
			 d->critical ? "critical index " : "", d->name, d->schema, d->table, e->stopped);
		n++;
	}
	return n;
}

static int
cmp_tables(const void *a, const void *b)
{
	const work_table *x = a;
	const work_table *y = b;
	int               c;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	c = strcmp(x->schema, y->schema);
	return c != 0 ? c : strcmp(x->table, y->table);
}

/* Group the work by table, biggest first. */
static void
make_tables(engine *e)
{
	for (int i = 0; i < e->n_items; i++)
	{
		plan_item  *it = &e->items[i];
		work_table *t = NULL;

		if (!plan_action_is_work(it->action))
			continue;
		for (int k = 0; k < e->n_tables; k++)
			if (strcmp(e->tables[k].schema, it->def->schema) == 0 &&
				strcmp(e->tables[k].table, it->def->table) == 0)
				t = &e->tables[k];
		if (t == NULL)
		{
			e->tables = xrealloc(e->tables, sizeof(work_table) * (size_t) (e->n_tables + 1));
			t = &e->tables[e->n_tables++];
			memset(t, 0, sizeof(*t));
			t->schema = it->def->schema;
			t->table = it->def->table;
			t->bytes = it->cat->table_bytes;
		}
		t->items = xrealloc(t->items, sizeof(int) * (size_t) (t->n_items + 1));
		t->items[t->n_items++] = i;
		job_prepare(&e->jobs[i], it);
	}
	if (e->n_tables > 1)
		qsort(e->tables, (size_t) e->n_tables, sizeof(work_table), cmp_tables);
}

static void
warn_memory(engine *e)
{
	int64_t kb = e->set->maintenance_work_mem_kb;

	if (e->n_slots < 2)
		return;
	if (kb == 0)
	{
		PGresult *res = db_query(
			e->env->monitor, "reading maintenance_work_mem",
			"SELECT pg_catalog.pg_size_bytes(pg_catalog.current_setting('maintenance_work_mem')) / 1024", 0,
			NULL, PGRES_TUPLES_OK);

		if (res == NULL)
			return;
		kb = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (kb * e->n_slots > MWM_WARN_KB)
		elog(
			e, LOG_LEVEL_WARNING, "memory", NULL,
			"%d builds at once with maintenance_work_mem %lldMB may use %lldMB of server memory (parallel workers share it); lower -j or --maintenance-work-mem if the server is short of memory",
			e->n_slots, (long long) kb / 1024, (long long) kb * e->n_slots / 1024);
}

int
build_run(plan_item *items, int n, const build_env *env, build_summary *sum)
{
	engine e;
	int    rc = EXIT_OK;
	int    wanted;

	memset(&e, 0, sizeof(e));
	e.env = env;
	e.set = env->settings;
	e.items = items;
	e.n_items = n;
	e.sum = sum;
	e.jobs = xcalloc((size_t) (n + 1), sizeof(job));
	e.bar = e.set->progress && log_get_format() == LOG_FORMAT_TEXT && isatty(STDERR_FILENO) &&
			log_enabled(LOG_LEVEL_INFO);
	make_tables(&e);
	if (e.n_tables == 0)
		goto done;

	wanted = e.set->jobs < e.n_tables ? e.set->jobs : e.n_tables;
	e.slots = xcalloc((size_t) wanted, sizeof(slot));
	for (int i = 0; i < wanted; i++)
	{
		slot *s = &e.slots[e.n_slots];

		s->table = -1;
		s->pct = -1;
		if (cancel_pending())
			break;
		if (!slot_connect(&e, s))
		{
			free(s->search_path);
			memset(s, 0, sizeof(*s));
			continue;
		}
		e.n_slots++;
	}
	if (e.n_slots == 0)
	{
		rc = pgerr_exit_code(cancel_pending() ? PGERR_CANCELED_BY_US : PGERR_CONNECTION_LOST,
							 cancel_exit_code());
		if (!cancel_pending())
			log_event(LOG_LEVEL_ERROR, "no_connection", NULL, "could not open a build connection");
		goto done;
	}
	if (e.n_slots < wanted)
		elog(&e, LOG_LEVEL_WARNING, "fewer_slots", NULL, "only %d of %d build connections could be opened",
			 e.n_slots, wanted);
	warn_memory(&e);
	elog(&e, LOG_LEVEL_DEBUG, NULL, NULL, "%d table%s to work on, %d connection%s", e.n_tables,
		 e.n_tables == 1 ? "" : "s", e.n_slots, e.n_slots == 1 ? "" : "s");

	for (;;)
	{
		int64_t        now = monotonic_ms();
		int64_t        timeout = 100;
		bool           any = false;
		parallel_slot *busy[INDEXER_MAX_JOBS];
		int            n_busy = 0;

		if (cancel_pending() && !e.interrupting)
			begin_interrupt(&e);
		if (e.interrupting && now >= e.cleanup_deadline)
		{
			for (int i = 0; i < e.n_slots; i++)
			{
				slot *s = &e.slots[i];

				if (s->ps.busy && !s->deadline_fired)
				{
					s->deadline_fired = true;
					parallel_slot_cancel(&s->ps);
				}
			}
			if (now >= e.cleanup_deadline + HARD_STOP_MS)
				break; /* the server does not answer: give up */
		}

		for (int i = 0; i < e.n_slots; i++)
		{
			slot *s = &e.slots[i];

			if (s->job == NULL && !s->ps.busy)
				slot_take_work(&e, s);
			slot_step(&e, s);
			if (s->job != NULL || s->ps.busy)
				any = true;
			if (s->ps.busy)
				busy[n_busy++] = &s->ps;
			else if (s->job != NULL && s->not_before > now && s->not_before - now < timeout)
				timeout = s->not_before - now;
		}
		if (!any)
			break;

		if (e.next_monitor - now < timeout)
			timeout = e.next_monitor > now ? e.next_monitor - now : 0;
		if (!parallel_slots_wait(busy, n_busy, timeout))
		{
			/* the loop cannot go on: what runs is abandoned, nothing new starts */
			free(e.stopped);
			e.stopped = xasprintf("poll() failed while waiting for the builds: %s", strerror(errno));
			e.loop_failed = true;
			elog(&e, LOG_LEVEL_ERROR, "loop_failed", NULL, "%s", e.stopped);
			break;
		}

		for (int i = 0; i < e.n_slots; i++)
		{
			slot     *s = &e.slots[i];
			bool      ok;
			PGresult *res = NULL;
			db_error  err = {0};

			if (!s->ps.busy)
				continue;
			if (!parallel_slot_collect(&s->ps, s->ps.cancel_sent || e.interrupting, &ok, &res, &err))
				continue;
			if (s->job && s->job->cur < s->job->n_units)
				unit_result(&e, s, s->job, &s->job->units[s->job->cur], ok, res, &err);
			PQclear(res);
			db_error_clear(&err);
		}

		if (monotonic_ms() >= e.next_monitor)
		{
			monitor_tick(&e);
			e.next_monitor = monotonic_ms() + MONITOR_MS;
		}
	}
	bar_clear(&e);

	/* whatever is still running after the hard stop: name it */
	for (int i = 0; i < e.n_slots; i++)
	{
		slot *s = &e.slots[i];

		if (s->job != NULL)
		{
			unit *u = &s->job->units[s->job->cur < s->job->n_units ? s->job->cur : 0];

			if (u->kind == UNIT_BUILD && u->created)
			{
				free(s->job->left_behind);
				s->job->left_behind = xstrdup(u->name);
			}
			if (u->err.message == NULL)
			{
				u->err.cls = e.stopped && !e.interrupting ? PGERR_OTHER : PGERR_CANCELED_BY_US;
				u->err.message =
					xstrdup(e.stopped && !e.interrupting ? e.stopped
														 : "the server did not answer the cancel in time");
			}
			u->step = STEP_FAILED;
			job_finish(&e, s, s->job);
			s->job = NULL;
		}
	}

	/* every work item has an outcome: what never started fails the run */
	if (e.stopped && !cancel_pending() && fail_unstarted(&e) > 0)
		e.loop_failed = true;

	if (cancel_pending())
		rc = pgerr_exit_code(PGERR_CANCELED_BY_US, cancel_exit_code());
	else if (sum->failed_critical > 0 || e.loop_failed)
		rc = EXIT_CHANGE_FAILED;

done:
	for (int i = 0; i < e.n_slots; i++)
	{
		parallel_slot_abandon(&e.slots[i].ps);
		conn_close(e.slots[i].ps.conn);
		free(e.slots[i].search_path);
		blockers_free(&e.slots[i].blockers);
	}
	free(e.slots);
	for (int i = 0; i < n; i++)
	{
		for (int k = 0; k < e.jobs[i].n_units; k++)
			unit_free(&e.jobs[i].units[k]);
		free(e.jobs[i].units);
		free(e.jobs[i].left_behind);
	}
	free(e.jobs);
	for (int i = 0; i < e.n_tables; i++)
		free(e.tables[i].items);
	free(e.tables);
	free(e.stopped);
	return rc;
}
