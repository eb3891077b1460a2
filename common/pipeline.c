/*-------------------------------------------------------------------------
 *
 * pipeline.c
 *	  A batch of statements in one round trip (libpq's pipeline mode),
 *	  every result read and judged.
 *
 * common/pipeline.c
 *
 *-------------------------------------------------------------------------
 */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "memory.h"
#include "retry.h"

void
pipeline_init(pipeline *p)
{
	memset(p, 0, sizeof(*p));
	p->failed = -1;
}

int
pipeline_add(pipeline *p, const char *sql, int nparams, const char *const *values, ExecStatusType expect,
			 pipeline_judge_fn judge, void *judge_arg)
{
	pipeline_entry *e;

	ARRAY_GROW(p->entries, p->n + 1, p->cap);
	e = &p->entries[p->n];
	memset(e, 0, sizeof(*e));
	e->sql = xstrdup(sql);
	e->nparams = nparams;
	if (nparams > 0)
	{
		e->values = xmalloc(sizeof(char *) * (size_t) nparams);
		for (int i = 0; i < nparams; i++)
		{
			e->values[i] = values[i] ? xstrdup(values[i]) : NULL;
			p->bytes += values[i] ? strlen(values[i]) : 0;
		}
	}
	e->expect = expect;
	e->judge = judge;
	e->judge_arg = judge_arg;
	p->bytes += strlen(sql);
	return p->n++;
}

int
pipeline_add_prepare(pipeline *p, const char *name, const char *sql, int nparams)
{
	int i = pipeline_add(p, sql, 0, NULL, PGRES_COMMAND_OK, NULL, NULL);

	p->entries[i].nparams = nparams; /* the types are the server's to infer */
	p->entries[i].name = xstrdup(name);
	p->entries[i].prepare = true;
	return i;
}

int
pipeline_add_prepared(pipeline *p, const char *name, int nparams, const char *const *values,
					  ExecStatusType expect, pipeline_judge_fn judge, void *judge_arg)
{
	int i = pipeline_add(p, name, nparams, values, expect, judge, judge_arg);

	p->entries[i].name = xstrdup(name);
	return i;
}

/* Send entry e: a Sync, a Parse, a prepared statement's or an unnamed one. */
static int
send_entry(PGconn *conn, const pipeline_entry *e)
{
	if (e->sql == NULL)
		return PQpipelineSync(conn);
	if (e->prepare)
		return PQsendPrepare(conn, e->name, e->sql, e->nparams, NULL);
	if (e->name != NULL)
		return PQsendQueryPrepared(conn, e->name, e->nparams, (const char *const *) e->values, NULL, NULL, 0);
	return PQsendQueryParams(conn, e->sql, e->nparams, NULL, (const char *const *) e->values, NULL, NULL, 0);
}

int
pipeline_add_sync(pipeline *p)
{
	ARRAY_GROW(p->entries, p->n + 1, p->cap);
	memset(&p->entries[p->n], 0, sizeof(p->entries[p->n]));
	return p->n++;
}

void
pipeline_set_quick(pipeline *p, int i)
{
	if (i >= 0 && i < p->n && p->entries[i].sql != NULL)
		p->entries[i].quick = true;
}

int
pipeline_answer_entry(const pipeline *p, int i)
{
	while (i >= 0 && i < p->n - 1 && p->entries[i].quick)
		i++;
	return i;
}

/* Every entry (the last is a Sync), pushed out. */
static bool
send_all(PGconn *conn, pipeline *p, db_error *err)
{
	if (!PQenterPipelineMode(conn))
	{
		db_error_from_conn(err, conn, false);
		return false;
	}
	for (int i = 0; i < p->n; i++)
	{
		const pipeline_entry *e = &p->entries[i];
		int                   sent = send_entry(conn, e);

		/*
		 * The server holds its answers until a Sync or a Flush: without one
		 * after each entry, the answers of the entries before a long one
		 * would wait for it, and a connection lost during it would be
		 * blamed on the first entry (and the watch on the wrong one).
		 */
		if (sent && e->sql != NULL && !e->quick)
			sent = PQsendFlushRequest(conn);
		if (!sent)
		{
			db_error_from_conn(err, conn, false);
			return false;
		}
	}
	if (PQflush(conn) != 0)
	{
		db_error_from_conn(err, conn, false);
		return false;
	}
	return true;
}

static bool
status_ok(ExecStatusType got, ExecStatusType expect)
{
	if (expect == DB_EXPECT_ANY_OK)
		return got == PGRES_COMMAND_OK || got == PGRES_TUPLES_OK;
	return got == expect;
}

/*
 * COPY never rides in a batch (the caller keeps it out); if one did, end
 * it so that the server fails the statement.  False when it cannot be.
 */
static bool
end_copy(PGconn *conn, ExecStatusType status)
{
	char *buf;

	if (status == PGRES_COPY_IN)
		return PQputCopyEnd(conn, "COPY is not supported in a pipeline") >= 0;
	if (status != PGRES_COPY_OUT)
		return false;
	while (PQgetCopyData(conn, &buf, 0) > 0)
		PQfreemem(buf);
	return true;
}

/* The first failure of the batch: entry i, with res (NULL: the connection's). */
static void
note_failure(PGconn *conn, pipeline *p, int i, const PGresult *res, bool canceled, db_error *err)
{
	if (p->failed >= 0)
		return;
	p->failed = i;
	if (res != NULL)
		db_error_from_result(err, conn, res, canceled);
	else
		db_error_from_conn(err, conn, canceled);
}

/*
 * Judge one result of entry i.  False only when reading must stop (a COPY
 * that cannot be ended).
 */
static bool
judge_one(PGconn *conn, pipeline *p, int i, PGresult *res, bool canceled, db_error *err)
{
	const pipeline_entry *e = &p->entries[i];
	ExecStatusType        status = PQresultStatus(res);

	if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH)
	{
		if (p->failed < 0)
		{
			p->failed = i;
			db_error_clear(err);
			err->cls = PGERR_OTHER;
			err->message = xstrdup("COPY to or from the client is not supported");
		}
		return end_copy(conn, status);
	}
	if (status == PGRES_PIPELINE_ABORTED)
	{
		/* skipped after an earlier error, which is the failure */
		if (p->failed < 0)
			note_failure(conn, p, i, res, canceled, err);
		return true;
	}
	if (!status_ok(status, e->expect))
		note_failure(conn, p, i, res, canceled, err);
	else if (e->judge != NULL && p->failed < 0)
	{
		char *problem = e->judge(e->judge_arg, res);

		if (problem != NULL)
		{
			p->failed = i;
			p->problem = problem;
			db_error_clear(err);
			err->cls = PGERR_OTHER;
			err->message = xstrdup(problem);
		}
	}
	return true;
}

/*
 * Read the answer of entry i: its results up to the NULL that ends them (a
 * sync mark has one result and no NULL).  False when reading must stop (the
 * connection broke, or a cancel was not confirmed).
 */
static bool
read_entry(PGconn *conn, pipeline *p, int i, const db_watch *watch, answer_wait *w, db_error *err)
{
	bool      is_sync = p->entries[i].sql == NULL;
	PGresult *res;

	p->current = i;
	w->start = monotonic_ms();
	w->next_tick = watch ? w->start + watch->tick_ms : INT64_MAX;
	for (;;)
	{
		/* an answer already in libpq's buffer needs no read of the socket
		 * (one recv per batch, not one per entry: issue 13) */
		if (PQisBusy(conn) && !db_await_answer(conn, watch, !p->uninterruptible, p->in_block, w, err))
		{
			if (p->failed < 0)
				p->failed = pipeline_answer_entry(p, i);
			return false;
		}
		res = PQgetResult(conn);
		if (res == NULL)
		{
			if (is_sync || PQstatus(conn) == CONNECTION_BAD)
				break;
			return true; /* the end of this entry's results */
		}
		if (is_sync && PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			return true;
		}
		if (!judge_one(conn, p, i, res, w->canceled, err))
		{
			PQclear(res);
			break;
		}
		PQclear(res);
		if (PQstatus(conn) == CONNECTION_BAD)
			break;
	}
	/* the connection broke (or answered out of order): the failure, unless
	 * an earlier entry's error (the server's FATAL, say) came first */
	if (p->failed < 0)
		note_failure(conn, p, pipeline_answer_entry(p, i), NULL, w->canceled, err);
	return false;
}

bool
pipeline_send(PGconn *conn, pipeline *p, db_error *err)
{
	db_error_clear(err);
	p->failed = -1;
	if (cancel_pending() && !p->uninterruptible)
	{
		err->cls = PGERR_CANCELED_BY_US;
		err->message = xstrdup("canceled before the statement was sent");
		p->failed = 0;
		return false;
	}
	/* the closing Sync, when the caller did not mark it */
	if (p->n == 0 || p->entries[p->n - 1].sql != NULL)
		(void) pipeline_add_sync(p);
	if (!send_all(conn, p, err))
	{
		p->failed = 0;
		(void) PQexitPipelineMode(conn);
		return false;
	}
	return true;
}

bool
pipeline_read(PGconn *conn, pipeline *p, const db_watch *watch, db_error *err)
{
	answer_wait w = db_answer_wait_start(watch);
	bool        read_all = true;

	for (int i = 0; read_all && i < p->n; i++)
		read_all = read_entry(conn, p, i, watch, &w, err);
	(void) PQexitPipelineMode(conn);
	return read_all && p->failed < 0;
}

bool
pipeline_run(PGconn *conn, pipeline *p, const db_watch *watch, db_error *err)
{
	return pipeline_send(conn, p, err) && pipeline_read(conn, p, watch, err);
}

char *
pipeline_keep_result(void *slot, const PGresult *res)
{
	PGresult **kept = slot;

	PQclear(*kept);
	*kept = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	if (*kept == NULL)
		return xstrdup("out of memory copying a result");
	return NULL;
}

void
pipeline_free(pipeline *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->n; i++)
	{
		for (int v = 0; p->entries[i].values != NULL && v < p->entries[i].nparams; v++)
			free(p->entries[i].values[v]);
		free(p->entries[i].values);
		free(p->entries[i].sql);
		free(p->entries[i].name);
	}
	free(p->entries);
	free(p->problem);
	pipeline_init(p);
}
