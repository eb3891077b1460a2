/*-------------------------------------------------------------------------
 *
 * apply_pipeline.c
 *	  A transactional migration up to COMMIT in one round trip, and the
 *	  watch and notice handling every migration statement shares.
 *
 * migrator/apply_pipeline.c
 *
 *-------------------------------------------------------------------------
 */
#include "apply_pipeline.h"
#include "apply_residue.h"
#include "apply_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advlock.h"
#include "cancel.h"
#include "conn.h"
#include "history.h"
#include "history_write.h"
#include "log.h"
#include "memory.h"
#include "pipeline.h"
#include "query.h"
#include "skipped_object.h"
#include "verify.h"

/*
 * A batch bigger than this goes statement by statement: libpq sends it
 * while nothing reads the answers, and a send that blocked on a full socket
 * would stop the watch and the signal handling.
 */
#define PIPELINE_MAX_BYTES 16384

/* sample blockers from this age of a statement on, this often */
#define SAMPLE_AFTER_MS 150
/* how often a long lock wait is reported while it lasts */
#define WAIT_REPORT_MS 5000

/* once per run, backing off when it cannot connect (see blockers.h) */
static PGconn *
side_connection(apply_ctx *ctx)
{
	ctx->side.opts = ctx->conn_opts;
	return blockers_side_get(&ctx->side);
}

bool
apply_watch_tick(void *arg, int64_t elapsed_ms)
{
	statement_watch *w = arg;
	blocker_list     sample = {0};
	PGconn          *side;

	if (elapsed_ms < SAMPLE_AFTER_MS)
		return false;
	side = side_connection(w->ctx);
	if (side == NULL)
		return false;
	if (blockers_sample(side, w->backend_pid, &sample) && sample.n > 0)
	{
		blockers_copy(&w->last, &sample);
		if (elapsed_ms - w->last_report_ms >= WAIT_REPORT_MS)
		{
			log_event(LOG_LEVEL_INFO, "lock_wait", NULL, "statement at %s has waited %llds for a lock",
					  w->where, (long long) elapsed_ms / 1000);
			blockers_log(&sample, LOG_LEVEL_INFO, "  ");
			w->last_report_ms = elapsed_ms;
		}
	}
	blockers_free(&sample);
	return false; /* lock_timeout bounds the wait, not us */
}

/*
 * NOTICE and WARNING from a migration's own statement, attributed to it: an
 * exception handler that swallows an error typically says so only here.
 */
void
apply_notice(void *arg, const PGresult *res)
{
	notice_origin *o = arg;
	const char    *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char    *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char    *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	bool           warning = severity && strcmp(severity, "WARNING") == 0;
	char           vbuf[24];
	log_field      fields[] = {{"sqlstate", sqlstate}, {"version", vbuf}, {"at", o->where}, {NULL, NULL}};

	if (skipped_object_notice(sqlstate))
		o->n_skipped++;
	snprintf(vbuf, sizeof(vbuf), "%lld", (long long) o->m->version);
	log_event(warning ? LOG_LEVEL_WARNING : LOG_LEVEL_INFO, "server_notice", fields,
			  "%smigration %lld at %s: %s", warning ? "" : "notice: ", (long long) o->m->version, o->where,
			  primary ? primary : PQresultErrorMessage(res));
}

/*
 * The skip of an IF NOT EXISTS is known by its notice only: whatever the
 * database, the role or the migration itself (SET LOCAL) set, notices
 * reach us for the statement that may skip (for the rest of its
 * transaction, or of the session outside one).
 */
static bool
notices_on(PGconn *conn, db_error *err)
{
	return conn_set_config(conn, "client_min_messages", "notice",
						   PQtransactionStatus(conn) == PQTRANS_INTRANS, err);
}

bool
apply_run_statement(apply_ctx *ctx, const migration *m, const sql_statement *st, db_error *err,
					blocker_list *blockers_seen)
{
	char            *where = xasprintf("%s:%d", m->path, st->line);
	statement_watch  w = {.ctx = ctx, .backend_pid = PQbackendPID(ctx->conn), .where = where};
	db_watch         watch = {.tick = apply_watch_tick, .arg = &w, .tick_ms = APPLY_SAMPLE_EVERY_MS};
	notice_origin    origin = {m, where, 0};
	PQnoticeReceiver previous;
	bool             ok;

	log_event(LOG_LEVEL_DEBUG, "statement", NULL, "running %s (%s)", where, st->kind);
	/* conn_open's receiver takes no argument: restored as it was */
	ctx->session_clean = false;
	ok = !skipped_object_may_skip(m, st) || notices_on(ctx->conn, err);
	previous = PQsetNoticeReceiver(ctx->conn, apply_notice, &origin);
	ok = ok && db_run(ctx->conn, st->text, 0, NULL, DB_EXPECT_ANY_OK, NULL, err, &watch);
	PQsetNoticeReceiver(ctx->conn, previous, NULL);
	/* IF NOT EXISTS skipped: the object of that name must be ours */
	if (ok && (origin.n_skipped > 0 || skipped_object_replaces(st)))
		ok = skipped_object_check(ctx->conn, m, st, ctx->conn_opts->schema, err);
	blockers_copy(blockers_seen, &w.last);
	blockers_free(&w.last);
	free(where);
	return ok;
}

/* A verify statement's notice, at its line: verify_run keeps the running one's in vf->line. */
typedef struct verify_origin
{
	notice_origin         origin;
	const verify_failure *vf;
} verify_origin;

static void
verify_notice(void *arg, const PGresult *res)
{
	verify_origin *v = arg;
	char          *at = v->vf->line > 0 ? xasprintf("%s:%d", v->origin.m->verify_path, v->vf->line) : NULL;

	v->origin.where = at ? at : v->origin.m->verify_path;
	apply_notice(&v->origin, res);
	free(at);
}

bool
apply_run_verify(apply_ctx *ctx, migration *m, apply_failure *f)
{
	verify_failure   vf = {0};
	bool             own_tx = PQtransactionStatus(ctx->conn) == PQTRANS_IDLE;
	verify_origin    origin = {{m, m->verify_path, 0}, &vf};
	PQnoticeReceiver previous;
	bool             ok;

	f->path = m->verify_path;
	f->line = m->verify_script.n_stmts > 0 ? m->verify_script.stmts[0].line : 0;
	if (own_tx && !db_run(ctx->conn, "BEGIN READ ONLY", 0, NULL, PGRES_COMMAND_OK, NULL, &f->err, NULL))
		return false;
	previous = PQsetNoticeReceiver(ctx->conn, verify_notice, &origin);
	ok = verify_run(ctx->conn, m, ctx->conn_opts->schema, &vf);
	PQsetNoticeReceiver(ctx->conn, previous, NULL);
	if (own_tx && PQstatus(ctx->conn) == CONNECTION_OK)
		db_command_uninterruptible(ctx->conn, "ending the verify transaction", "ROLLBACK");
	if (!ok)
	{
		f->line = vf.line;
		db_error_clear(&f->err);
		f->err = vf.err; /* moved */
		memset(&vf.err, 0, sizeof(vf.err));
		f->verify_problem = vf.problem;
		vf.problem = NULL;
	}
	verify_failure_clear(&vf);
	return ok;
}

/* ---- the batch ---------------------------------------------------------------- */

typedef enum entry_kind
{
	ENTRY_TOOL,      /* the toolkit's own SQL */
	ENTRY_STATEMENT, /* the migration's */
	ENTRY_VERIFY,    /* a verify statement */
	ENTRY_COMMIT     /* the held migration's COMMIT, riding in front */
} entry_kind;

/* Which file and line an entry of the pipeline stands for. */
typedef struct entry_where
{
	const char *path;
	int         line;
	entry_kind  kind;
	char       *at; /* "path:line" */
} entry_where;

typedef struct batch
{
	pipeline         p;
	entry_where     *where; /* one per entry of p */
	int              n_where;
	int              cap_where; /* allocated length (memory.h) */
	history_write    hw;
	apply_ctx       *ctx;
	statement_watch  w;
	notice_origin    origin;
	PQnoticeReceiver previous;
	bool             redo;           /* a CREATE ... IF NOT EXISTS skipped */
	bool             quiet;          /* m cannot change its session (apply_residue.h) */
	const migration *held;           /* whose COMMIT rides in front (or NULL) */
	bool             held_committed; /* its COMMIT answered COMMIT */
} batch;

/* The names of the toolkit's prepared statements; empty: unnamed. */
typedef struct tool_names
{
	char pin[40], guard[40], history[40], lock[40];
} tool_names;

/* The entries appended since the last call stand for path:line. */
static void
note(batch *b, const char *path, int line, entry_kind kind)
{
	ARRAY_GROW(b->where, b->p.n, b->cap_where);
	for (; b->n_where < b->p.n; b->n_where++)
		b->where[b->n_where] = (entry_where){path, line, kind, xasprintf("%s:%d", path, line)};
}

/* A statement that ended the migration's transaction (the linter refuses them). */
static char *
judge_still_open(void *arg, const PGresult *res)
{
	const char *tag = PQcmdStatus((PGresult *) res);

	(void) arg;
	if (strcmp(tag, "COMMIT") == 0 || strcmp(tag, "ROLLBACK") == 0 || strcmp(tag, "PREPARE TRANSACTION") == 0)
		return xstrdup(APPLY_TX_ENDED);
	return NULL;
}

static char *
judge_lock(void *arg, const PGresult *res)
{
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "0") != 0)
		return NULL;
	return apply_session_lock_lost(arg);
}

/*
 * The verify file's entries: its statements stand for their lines, the
 * savepoint around them for its first (as verify_run reports them).
 */
static bool
add_verify(batch *b, migration *m, const char *schema)
{
	int first = verify_pipeline_add(&b->p, b->ctx->conn, m, schema);
	int line0 = m->verify_script.stmts[0].line;

	if (first < 0)
		return false;
	for (int i = b->n_where; i < b->p.n; i++)
	{
		int  k = i - first;
		bool is_stmt = k >= 0 && k < m->verify_script.n_stmts;

		ARRAY_GROW(b->where, i + 1, b->cap_where);
		b->where[i] = (entry_where){m->verify_path, is_stmt ? m->verify_script.stmts[k].line : line0,
									is_stmt ? ENTRY_VERIFY : ENTRY_TOOL, NULL};
		b->where[i].at = xasprintf("%s:%d", m->verify_path, b->where[i].line);
	}
	b->n_where = b->p.n;
	return true;
}

/*
 * A migration that cannot change its session (apply_residue.h) cannot
 * DEALLOCATE either: the toolkit's statements in its batch run prepared,
 * parsed and planned once per session, their Parses riding in the first
 * such batch (after a reset, or under a new name after a failed batch,
 * which may have left some).  Fills n (empty names for any other).
 */
static void
add_prepares(batch *b, tool_names *n)
{
	apply_ctx        *ctx = b->ctx;
	advlock_held_args lock;

	memset(n, 0, sizeof(*n));
	if (!b->quiet)
		return;
	snprintf(n->pin, sizeof(n->pin), "toolkit_pin_%d", ctx->prepared_gen);
	snprintf(n->guard, sizeof(n->guard), "toolkit_guard_%d", ctx->prepared_gen);
	snprintf(n->history, sizeof(n->history), "toolkit_history_%d", ctx->prepared_gen);
	if (ctx->lock_conn != NULL)
		snprintf(n->lock, sizeof(n->lock), "toolkit_lock_%d", ctx->prepared_gen);
	if (ctx->prepared)
		return;
	pipeline_set_quick(&b->p, pipeline_add_prepare(&b->p, n->pin, apply_session_pin_sql(), 4));
	pipeline_set_quick(&b->p, pipeline_add_prepare(&b->p, n->guard, history_guard_sql(ctx->ht), 0));
	pipeline_set_quick(&b->p, pipeline_add_prepare(&b->p, n->history, b->hw.sql, HISTORY_WRITE_NPARAMS));
	if (ctx->lock_conn != NULL)
		pipeline_set_quick(
			&b->p, pipeline_add_prepare(&b->p, n->lock, advlock_held_query(ctx->lock_name, 0, &lock), 2));
}

/* sql with values, or the prepared statement name when it is not empty */
static int
add_tool(batch *b, const char *name, const char *sql, int nparams, const char *const *values,
		 pipeline_judge_fn judge, void *judge_arg)
{
	if (name[0] != '\0')
		return pipeline_add_prepared(&b->p, name, nparams, values, PGRES_TUPLES_OK, judge, judge_arg);
	return pipeline_add(&b->p, sql, nparams, values, PGRES_TUPLES_OK, judge, judge_arg);
}

/*
 * BEGIN .. the run lock's confirmation, as run_until_commit does them one
 * by one.  False when a name cannot be quoted (the caller goes the other
 * way, which reports why).
 */
static bool
build(batch *b, migration *m)
{
	apply_ctx        *ctx = b->ctx;
	const char       *schema = ctx->conn_opts->schema;
	int               first = m->script.stmts[0].line;
	int               last = m->script.stmts[m->script.n_stmts - 1].line;
	advlock_held_args lock;
	tool_names        names;

	b->quiet = !apply_residue_possible(m, ctx->event_triggers);
	history_write_prepare(&b->hw, ctx->ht, m->version, m->name, m->checksum, "applied", -1, NULL);
	history_write_replaces_failed(&b->hw, ctx->row_failed);
	add_prepares(b, &names);
	/*
	 * Only the migration's statements, the history row and the verify
	 * statements can wait (a lock, real work): the answers of the entries
	 * that cannot travel with theirs (pipeline_set_quick).
	 */
	pipeline_set_quick(&b->p, pipeline_add(&b->p, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, NULL));
	if (!apply_session_pin_add(ctx, &b->p, schema, names.pin[0] ? names.pin : NULL))
		return false;
	pipeline_set_quick(&b->p, b->p.n - 1);
	note(b, m->path, first, ENTRY_TOOL);
	for (int i = 0; i < m->script.n_stmts; i++)
	{
		(void) pipeline_add(&b->p, m->script.stmts[i].text, 0, NULL, DB_EXPECT_ANY_OK, judge_still_open,
							NULL);
		note(b, m->path, m->script.stmts[i].line, ENTRY_STATEMENT);
	}
	/*
	 * SAVEPOINT refuses a pipeline's implicit transaction: still ours.  A
	 * migration that cannot change its session (apply_residue.h: listed
	 * DDL kinds, no code of the user's, no event trigger) cannot end its
	 * transaction either, and needs no guard.
	 */
	if (!b->quiet)
	{
		pipeline_set_quick(
			&b->p, pipeline_add(&b->p, "SAVEPOINT toolkit_pipeline", 0, NULL, PGRES_COMMAND_OK, NULL, NULL));
		pipeline_set_quick(&b->p, pipeline_add(&b->p, "RELEASE SAVEPOINT toolkit_pipeline", 0, NULL,
											   PGRES_COMMAND_OK, NULL, NULL));
	}
	(void) apply_session_pin_add(ctx, &b->p, NULL, names.pin[0] ? names.pin : NULL);
	pipeline_set_quick(&b->p, b->p.n - 1);
	/* the table the name stands for now is locked and checked again (history.h) */
	(void) pipeline_add(&b->p, history_lock_sql(ctx->ht), 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
	pipeline_set_quick(&b->p, add_tool(b, names.guard, history_guard_sql(ctx->ht), 0, NULL, NULL, NULL));
	(void) add_tool(b, names.history, b->hw.sql, HISTORY_WRITE_NPARAMS, b->hw.values, history_write_judge,
					&b->hw);
	note(b, m->path, last, ENTRY_TOOL);
	if (m->verify_script.n_stmts > 0 && !add_verify(b, m, schema))
		return false;
	if (ctx->lock_conn != NULL)
	{
		const char *sql = advlock_held_query(ctx->lock_name, PQbackendPID(ctx->lock_conn), &lock);

		pipeline_set_quick(&b->p, add_tool(b, names.lock, sql, 2, lock.values, judge_lock, ctx));
		note(b, m->path, last, ENTRY_TOOL);
	}
	return true;
}

/*
 * The held migration's COMMIT answered: it is applied now, and this
 * migration starts (the log keeps its order: applied, then applying).
 */
static char *
judge_held_commit(void *arg, const PGresult *res)
{
	batch *b = arg;
	char  *problem = apply_session_judge_commit(NULL, res);

	if (problem != NULL)
		return problem;
	b->held_committed = true;
	apply_note_applied(b->ctx, b->held, b->ctx->held_recorded_ms);
	log_event(LOG_LEVEL_INFO, "applying", NULL, "applying %s", b->origin.m->stem);
	return NULL;
}

/*
 * The held migration's COMMIT, first in the write.  Quick: a quiet
 * migration's COMMIT has no deferred check to wait for, and its answer
 * travels with the first statement's.
 */
static void
add_held_commit(batch *b)
{
	pipeline_set_quick(&b->p, pipeline_add(&b->p, "COMMIT", 0, NULL, PGRES_COMMAND_OK, judge_held_commit, b));
	note(b, b->held->path, b->ctx->held_line, ENTRY_COMMIT);
}

static const entry_where *
where_of(const batch *b, int i)
{
	return i >= 0 && i < b->n_where ? &b->where[i] : NULL;
}

/* The entry whose answer libpq is reading now (its notices are its own). */
static const entry_where *
current_where(const batch *b)
{
	return where_of(b, b->p.current);
}

/*
 * The watch of the statement the server may be running: the one whose
 * answer carries the awaited one's (a quick entry's travels with it).
 */
static bool
batch_tick(void *arg, int64_t elapsed_ms)
{
	batch             *b = arg;
	const entry_where *at = where_of(b, pipeline_answer_entry(&b->p, b->p.current));

	b->w.where = at ? at->at : b->origin.m->path;
	return apply_watch_tick(&b->w, elapsed_ms);
}

/*
 * A migration statement's notice is its own, and so is one raised by its
 * verify file (at the verify statement's line) or by the held migration's
 * COMMIT (a deferred trigger's, attributed to that migration); the
 * toolkit's go as before.  Only a statement's can mean a skipped CREATE.
 */
static void
batch_notice(void *arg, const PGresult *res)
{
	batch             *b = arg;
	const entry_where *at = current_where(b);
	notice_origin      other;

	if (at == NULL || at->kind == ENTRY_TOOL)
	{
		if (b->previous)
			b->previous(NULL, res);
		return;
	}
	if (at->kind != ENTRY_STATEMENT)
	{
		other = (notice_origin){at->kind == ENTRY_COMMIT ? b->held : b->origin.m, at->at, 0};
		apply_notice(&other, res);
		return;
	}
	b->origin.where = at->at;
	apply_notice(&b->origin, res);
	if (b->origin.n_skipped > 0)
		b->redo = true;
}

/* f from the first failing entry. */
static void
locate_failure(batch *b, apply_failure *f)
{
	const entry_where *at = b->p.failed >= 0 && b->p.failed < b->n_where ? &b->where[b->p.failed] : NULL;

	if (at == NULL)
		return; /* before the first entry: f names the first statement */
	f->path = at->path;
	f->line = at->line;
	if (at->kind == ENTRY_TOOL)
		history_explain_missing_view(b->ctx->ht, &f->err);
	if (at->kind == ENTRY_VERIFY && b->p.problem != NULL)
	{
		db_error_clear(&f->err);
		f->verify_problem = b->p.problem;
		b->p.problem = NULL;
	}
}

static void
batch_free(batch *b)
{
	for (int i = 0; i < b->n_where; i++)
		free(b->where[i].at);
	free(b->where);
	free(b->hw.sql);
	pipeline_free(&b->p);
	blockers_free(&b->w.last);
}

bool
apply_pipeline_eligible(const apply_ctx *ctx, const migration *m)
{
	size_t bytes = 0;

	if (m->no_transaction || m->script.n_stmts == 0 ||
		(ctx->lock_conn != NULL && PQstatus(ctx->lock_conn) != CONNECTION_OK))
		return false;
	for (int i = 0; i < m->script.n_stmts; i++)
	{
		const sql_statement *st = &m->script.stmts[i];

		if (strcmp(st->kind, "TransactionStmt") == 0 || strcmp(st->kind, "CopyStmt") == 0 ||
			skipped_object_replaces(st) || skipped_object_may_skip(m, st))
			return false;
		bytes += strlen(st->text);
	}
	for (int i = 0; i < m->verify_script.n_stmts; i++)
		bytes += strlen(m->verify_script.stmts[i].text);
	return bytes <= PIPELINE_MAX_BYTES;
}

/* What became of the held migration's COMMIT; false when it did not commit. */
static bool
held_outcome(batch *b, apply_failure *f)
{
	if (b->held == NULL || b->held_committed)
		return true;
	f->commit_of = b->held;
	f->path = b->held->path;
	f->line = b->ctx->held_line;
	return false;
}

/* The entries built so far dropped: the held COMMIT alone. */
static void
commit_alone(batch *b)
{
	for (int i = 0; i < b->n_where; i++)
		free(b->where[i].at);
	b->n_where = 0;
	pipeline_free(&b->p);
	b->p.in_block = false; /* the COMMIT is in it */
	b->quiet = false;      /* no Parse of the toolkit's statements goes out */
	add_held_commit(b);
}

/*
 * The batch, with the held migration's COMMIT in front (alone when the
 * batch cannot be built: m then goes statement by statement).  Returns
 * pipeline_run's verdict; *built false when m's batch was not sent, *sent
 * false when nothing was.
 */
static bool
send_batch(batch *b, migration *m, apply_failure *f, bool *built, bool *sent)
{
	db_watch watch = {.tick = batch_tick, .arg = b, .tick_ms = APPLY_SAMPLE_EVERY_MS};
	bool     ok;
	int      own;

	if (b->held != NULL)
		add_held_commit(b);
	own = b->p.n;
	*built = build(b, m);
	*sent = *built || b->held != NULL;
	if (!*sent)
		return false;
	if (!*built)
		commit_alone(b);
	else
		log_event(LOG_LEVEL_DEBUG, "pipeline", NULL, "%s: %d statements in one pipeline%s%s", m->stem,
				  b->p.n - own, b->held ? ", behind the COMMIT of " : "", b->held ? b->held->stem : "");
	b->previous = PQsetNoticeReceiver(b->ctx->conn, batch_notice, b);
	ok = pipeline_run(b->ctx->conn, &b->p, &watch, &f->err);
	PQsetNoticeReceiver(b->ctx->conn, b->previous, NULL);
	return ok;
}

bool
apply_pipeline_until_commit(apply_ctx *ctx, migration *m, apply_failure *f, blocker_list *seen, bool *in_tx,
							bool *redo)
{
	batch                   b = {.ctx = ctx, .origin = {m, m->path, 0}, .held = ctx->held};
	PGTransactionStatusType ts;
	bool                    ok;
	bool                    built, sent;

	pipeline_init(&b.p);
	/* its COMMIT is never in it; a held one's is: a cancel not confirmed
	 * before its answer cannot say that nothing was committed */
	b.p.in_block = b.held == NULL;
	b.w = (statement_watch){.ctx = ctx, .backend_pid = PQbackendPID(ctx->conn), .where = m->path};
	*redo = false;
	*in_tx = false;
	ctx->session_clean = false;
	ctx->held = NULL;
	ok = send_batch(&b, m, f, &built, &sent);
	if (sent)
	{
		ts = PQtransactionStatus(ctx->conn);
		*in_tx = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
		blockers_copy(seen, &b.w.last);
		/* a failed batch may have left some of its Parses: new names next */
		if (b.quiet)
		{
			ctx->prepared = ok;
			ctx->prepared_gen += ok ? 0 : 1;
		}
		if (!held_outcome(&b, f))
			ok = false;
		else if (!built)
		{
			*redo = true;
			ok = false;
			db_error_clear(&f->err);
		}
		else if (b.redo && PQstatus(ctx->conn) == CONNECTION_OK && !cancel_pending())
		{
			/* the skipped object is checked right after its statement */
			*redo = true;
			ok = false;
			db_error_clear(&f->err);
		}
		else if (!ok)
			locate_failure(&b, f);
		else
			ctx->recorded_ms = b.hw.recorded_ms; /* the server's time since BEGIN */
	}
	else
		*redo = true; /* nothing sent: the batch cannot be built */
	batch_free(&b);
	return ok;
}
