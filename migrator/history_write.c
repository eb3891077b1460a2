/*-------------------------------------------------------------------------
 *
 * history_write.c
 *	  The history table's writes, each behind the lock and the guard.
 *
 * migrator/history_write.c
 *
 *-------------------------------------------------------------------------
 */
#include "history_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "memory.h"
#include "pgerr.h"
#include "pipeline.h"
#include "query.h"

/*
 * A pending version gets a plain INSERT that must insert exactly one row:
 * a concurrent row, whatever its status, fails on the primary key, and
 * anything that suppresses the insert fails the count.  Only a version the
 * run found 'failed' (history_write_replaces_failed) is updated, and only
 * while its row is still 'failed': an applied row is never overwritten, and
 * a row that appeared behind the run's back is never taken for one it may
 * update.  One statement, one round trip: the UPDATE or the INSERT ($8
 * says which), and the two counts, which must add up to one.  The session
 * user is read with no operator of ours (CVE-2018-1058).
 */
void
history_write_prepare(history_write *r, const history_table *ht, int64_t version, const char *name,
					  const char *checksum, const char *status, int64_t duration_ms, const char *failure)
{
	snprintf(r->vbuf, sizeof(r->vbuf), "%lld", (long long) version);
	snprintf(r->dbuf, sizeof(r->dbuf), "%lld", (long long) duration_ms);
	if (gethostname(r->host, sizeof(r->host)) != 0)
		snprintf(r->host, sizeof(r->host), "unknown");
	r->host[sizeof(r->host) - 1] = '\0';
	r->values[0] = r->vbuf;
	r->values[1] = name;
	r->values[2] = checksum;
	r->values[3] = status;
	/* NULL: the server's time since the transaction began (a pipeline) */
	r->values[4] = duration_ms >= 0 ? r->dbuf : NULL;
	r->values[5] = r->host;
	r->values[6] = failure;
	r->values[7] = "false"; /* a new row */
	r->version = version;
	r->recorded_ms = -1;
#define HISTORY_DURATION                                                                                     \
	"COALESCE($5::pg_catalog.int8, (EXTRACT(epoch FROM pg_catalog.clock_timestamp() - "                      \
	"pg_catalog.transaction_timestamp()) * 1000)::pg_catalog.int8)"
	r->sql = xasprintf(
		"WITH u AS (UPDATE %s SET name = $2, checksum = $3, status = $4, "
		"  applied_at = pg_catalog.clock_timestamp(), duration_ms = " HISTORY_DURATION ", "
		"  applied_by = pg_catalog.concat(SESSION_USER, '@', $6::pg_catalog.text), failure = $7 "
		"  WHERE version = $1::pg_catalog.int8 AND status = 'failed' AND $8::pg_catalog.bool AND %s "
		"  RETURNING duration_ms), "
		"i AS (INSERT INTO %s (version, name, checksum, status, applied_at, duration_ms, applied_by, failure) "
		"  SELECT $1::pg_catalog.int8, $2, $3, $4, pg_catalog.clock_timestamp(), " HISTORY_DURATION ", "
		"  pg_catalog.concat(SESSION_USER, '@', $6::pg_catalog.text), $7 WHERE NOT $8::pg_catalog.bool AND %s "
		"  RETURNING duration_ms) "
		"SELECT (SELECT pg_catalog.count(*) FROM u), (SELECT pg_catalog.count(*) FROM i), "
		"  coalesce((SELECT duration_ms FROM u), (SELECT duration_ms FROM i), -1)",
		history_target(ht), history_pin_sql(ht), history_target(ht), history_pin_sql(ht));
#undef HISTORY_DURATION
}

void
history_write_replaces_failed(history_write *r, bool row_failed)
{
	r->values[7] = row_failed ? "true" : "false";
}

char *
history_write_judge(void *row, const PGresult *res)
{
	history_write *r = row;

	if (PQntuples(res) == 1 && PQnfields(res) == 3 &&
		strtoll(PQgetvalue(res, 0, 0), NULL, 10) + strtoll(PQgetvalue(res, 0, 1), NULL, 10) == 1)
	{
		r->recorded_ms = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		return NULL;
	}
	return xasprintf("the history row of version %lld was not written (%s updated, %s inserted): "
					 "something else writes the history table",
					 (long long) r->version, PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?",
					 PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "?");
}

/*
 * A pipeline of [BEGIN,] the lock and the guard, for the writes added
 * after them: in one round trip, since a schema rename between the guard
 * and the write (their own round trips once) had the write planned over
 * another table, whose column default or rule action folded its IMMUTABLE
 * function as the migrator before the write's pin could fail it.  The
 * writes go through the view bound to the trusted table by OID
 * (history_bind, made before); without it (no TEMPORARY privilege) what
 * remains is the server's own gap between the write's target and its pin
 * (relation_trust.h).
 */
static void
guarded_pipeline(pipeline *p, const history_table *ht, bool begin)
{
	pipeline_init(p);
	p->in_block = true; /* its COMMIT comes after it */
	if (begin)
		(void) pipeline_add(p, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
	(void) pipeline_add(p, history_lock_sql(ht), 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
	(void) pipeline_add(p, history_guard_sql(ht), 0, NULL, PGRES_TUPLES_OK, NULL, NULL);
}

/* Run it; a judge's problem becomes err's (PGERR_OTHER).  Frees p. */
static bool
guarded_run(PGconn *conn, const history_table *ht, pipeline *p, db_error *err)
{
	bool ok = pipeline_run(conn, p, NULL, err);

	history_explain_missing_view(ht, err);
	if (!ok && p->problem != NULL)
	{
		db_error_clear(err);
		err->cls = PGERR_OTHER;
		err->message = p->problem;
		p->problem = NULL;
	}
	pipeline_free(p);
	return ok;
}

/*
 * One write, judged by judge, after the lock and the guard, uninterruptible.
 * In a transaction of its own (begin) the view is made first when needed;
 * in the caller's, it was (history_bind).  False with err filled (a
 * judge's problem as a PGERR_OTHER), the transaction left to the caller.
 */
static bool
locked_guarded_write(PGconn *conn, const history_table *ht, bool begin, const char *sql, int n,
					 const char *const *values, ExecStatusType expect, pipeline_judge_fn judge,
					 void *judge_arg, db_error *err)
{
	pipeline p;

	if (begin && !history_bind(conn, ht, err))
		return false;
	guarded_pipeline(&p, ht, begin);
	p.uninterruptible = true;
	(void) pipeline_add(&p, sql, n, values, expect, judge, judge_arg);
	return guarded_run(conn, ht, &p, err);
}

bool
history_record(PGconn *conn, const history_table *ht, int64_t version, const char *name, const char *checksum,
			   const char *status, int64_t duration_ms, const char *failure, bool row_failed,
			   int64_t *recorded_ms, db_error *err)
{
	history_write r;
	bool          ok;
	bool own_tx = PQtransactionStatus(conn) == PQTRANS_IDLE; /* the guard's lock lasts to its COMMIT */

	history_write_prepare(&r, ht, version, name, checksum, status, duration_ms, failure);
	history_write_replaces_failed(&r, row_failed);
	ok = locked_guarded_write(conn, ht, own_tx, r.sql, HISTORY_WRITE_NPARAMS, r.values, PGRES_TUPLES_OK,
							  history_write_judge, &r, err);
	free(r.sql);
	if (ok && own_tx)
		ok = db_run_ex(conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, err, NULL, false);
	if (!ok && own_tx && PQtransactionStatus(conn) != PQTRANS_IDLE && PQstatus(conn) == CONNECTION_OK)
		db_command_uninterruptible(conn, "rolling back a history write", "ROLLBACK");
	if (ok && recorded_ms)
		*recorded_ms = r.recorded_ms;
	return ok;
}

/* The write of guarded_write changed the row the run read, and no other. */
static char *
judge_one_row(void *arg, const PGresult *res)
{
	const char *n = PQcmdTuples((PGresult *) res);

	(void) arg;
	/* a write that changed nothing (a rule of another table that took the name's place) is no success */
	return strcmp(n, "1") == 0
			   ? NULL
			   : xasprintf("it changed %s rows, not the 1 the run read; nothing was recorded", n);
}

/*
 * A write outside history_record (repair): in a transaction of its own
 * (or the caller's, when one is open), the lock and history_guard_sql
 * first, which check that the name stands for the table checked at
 * start-up and that it is still clean, so that an armed table put in its
 * place is refused before anything of it runs; the three in one round
 * trip, so that a schema rename cannot land between the guard and the
 * write but in the server's own gap between two statements.  It must
 * change exactly one row, the one the run read; false after logging
 * "<what>: <error>", rolled back.
 */
static bool
guarded_write(PGconn *conn, const history_table *ht, const char *what, const char *sql, int n,
			  const char *const *values)
{
	bool     own_tx = PQtransactionStatus(conn) == PQTRANS_IDLE;
	db_error err = {0};
	char    *msg;
	bool     ok =
		locked_guarded_write(conn, ht, own_tx, sql, n, values, PGRES_COMMAND_OK, judge_one_row, NULL, &err) &&
		(!own_tx || db_run_ex(conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, &err, NULL, false));

	if (!ok)
	{
		msg = db_error_format(&err);
		log_error("%s: %s", what, msg);
		free(msg);
	}
	db_error_clear(&err);
	if (!ok && own_tx && PQtransactionStatus(conn) != PQTRANS_IDLE && PQstatus(conn) == CONNECTION_OK)
		db_command_uninterruptible(conn, "rolling back a history write", "ROLLBACK");
	return ok;
}

bool
history_set_checksum(PGconn *conn, const history_table *ht, int64_t version, const char *checksum)
{
	char        vbuf[24];
	const char *values[2] = {vbuf, checksum};
	char       *sql = xasprintf("UPDATE %s SET checksum = $2 WHERE version = $1 AND %s", history_target(ht),
								history_pin_sql(ht));
	bool        ok;

	snprintf(vbuf, sizeof(vbuf), "%lld", (long long) version);
	ok = guarded_write(conn, ht, "updating a checksum", sql, 2, values);
	free(sql);
	return ok;
}

bool
history_forget(PGconn *conn, const history_table *ht, int64_t version)
{
	char        vbuf[24];
	const char *values[1] = {vbuf};
	char       *sql =
		xasprintf("DELETE FROM %s WHERE version = $1 AND %s", history_target(ht), history_pin_sql(ht));
	bool ok;

	snprintf(vbuf, sizeof(vbuf), "%lld", (long long) version);
	ok = guarded_write(conn, ht, "removing a history row", sql, 1, values);
	free(sql);
	return ok;
}

bool
history_record_baseline(PGconn *conn, const history_table *ht, int64_t version, const char *name,
						const char *checksum, const char *how, db_error *err)
{
	history_write r;
	char          vbuf[24];
	const char   *values[2] = {vbuf, how};
	char    *note = xasprintf("UPDATE %s SET baseline = $2 WHERE version = $1 AND %s", history_target(ht),
							  history_pin_sql(ht));
	pipeline p;
	bool     ok;

	snprintf(vbuf, sizeof(vbuf), "%lld", (long long) version);
	history_write_prepare(&r, ht, version, name, checksum, "applied", 0, NULL);
	guarded_pipeline(&p, ht, false);
	(void) pipeline_add(&p, r.sql, HISTORY_WRITE_NPARAMS, r.values, PGRES_TUPLES_OK, history_write_judge, &r);
	/* the row was just inserted in this transaction: anything but one row updated is a lie */
	(void) pipeline_add(&p, note, 2, values, PGRES_COMMAND_OK, judge_one_row, NULL);
	ok = guarded_run(conn, ht, &p, err);
	free(r.sql);
	free(note);
	return ok;
}
