/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  Running a migration's verify statements, read-only.
 *
 * migrator/verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "verify.h"

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "memory.h"
#include "query.h"

#define BOOLOID 16

/*
 * The rules of one verify statement's result: at least one row, a boolean
 * first column, every value true.  Returns NULL when they hold, else the
 * problem (caller frees).
 */
static char *
judge_result(const PGresult *res)
{
	if (PQntuples(res) == 0)
		return xstrdup("verify query returned no rows");
	if (PQftype(res, 0) != BOOLOID)
		return xstrdup("verify query must return a boolean first column");
	for (int r = 0; r < PQntuples(res); r++)
	{
		if (PQgetisnull(res, r, 0))
			return xasprintf("verify query returned null in row %d", r + 1);
		if (strcmp(PQgetvalue(res, r, 0), "t") != 0)
			return xasprintf("verify query returned false in row %d", r + 1);
	}
	return NULL;
}

/* Run the statements; the session is already read-only and on the schema. */
static bool
run_statements(PGconn *conn, const migration *m, verify_failure *f)
{
	for (int i = 0; i < m->verify_script.n_stmts; i++)
	{
		const sql_statement *st = &m->verify_script.stmts[i];
		PGresult            *res;

		f->line = st->line;
		if (!db_run(conn, st->text, 0, NULL, PGRES_TUPLES_OK, &res, &f->err, NULL))
			return false;
		f->problem = judge_result(res);
		PQclear(res);
		if (f->problem)
			return false;
	}
	return true;
}

/*
 * Back to the caller's transaction: roll the savepoint back (undoing
 * read-only, the schema on the path and whatever the statements did to the
 * session), then the empty search_path.  Uninterruptible: it also runs after
 * a cancel.  A failure here is the call's failure when none came before.
 */
static bool
leave_savepoint(PGconn *conn, verify_failure *f)
{
	db_error err = {0};
	bool     ok;

	ok = db_run_ex(conn, "ROLLBACK TO SAVEPOINT toolkit_verify", 0, NULL, PGRES_COMMAND_OK, NULL, &err, NULL,
				   false) &&
		 db_run_ex(conn, "RELEASE SAVEPOINT toolkit_verify", 0, NULL, PGRES_COMMAND_OK, NULL, &err, NULL,
				   false) &&
		 conn_set_search_path(conn, NULL, true, &err);
	if (!ok && f->err.cls == PGERR_NONE && f->problem == NULL)
	{
		f->err = err;
		memset(&err, 0, sizeof(err));
	}
	db_error_clear(&err);
	return ok;
}

bool
verify_run(PGconn *conn, const migration *m, const char *schema, verify_failure *f)
{
	bool ok;

	memset(f, 0, sizeof(*f));
	f->path = m->verify_path;
	if (m->verify_script.n_stmts == 0)
		return true;
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS)
	{
		/* outside a transaction, read-only would not hold: refuse */
		f->problem = xstrdup("internal error: verify statements must run inside an open transaction block");
		return false;
	}
	if (!db_run(conn, "SAVEPOINT toolkit_verify", 0, NULL, PGRES_COMMAND_OK, NULL, &f->err, NULL))
		return false;
	ok = db_run(conn, "SELECT pg_catalog.set_config('transaction_read_only', 'on', true)", 0, NULL,
				PGRES_TUPLES_OK, NULL, &f->err, NULL) &&
		 conn_set_search_path(conn, schema, true, &f->err) && run_statements(conn, m, f);
	if (!leave_savepoint(conn, f))
		ok = false;
	return ok;
}

/* judge_result as a pipeline_judge_fn */
static char *
judge_in_pipeline(void *arg, const PGresult *res)
{
	(void) arg;
	return judge_result(res);
}

int
verify_pipeline_add(pipeline *p, PGconn *conn, const migration *m, const char *schema)
{
	const char *ro[1] = {"on"};
	const char *path[1] = {""};
	char       *quoted = NULL;
	int         first;

	if (schema != NULL && schema[0] != '\0')
	{
		quoted = PQescapeIdentifier(conn, schema, strlen(schema));
		if (quoted == NULL)
			return -1;
		path[0] = quoted;
	}
	/* none of the toolkit's entries can wait: quick (pipeline.h) */
	pipeline_set_quick(p, pipeline_add(p, "SAVEPOINT toolkit_verify", 0, NULL, PGRES_COMMAND_OK, NULL, NULL));
	pipeline_set_quick(p, pipeline_add(p, "SELECT pg_catalog.set_config('transaction_read_only', $1, true)",
									   1, ro, PGRES_TUPLES_OK, NULL, NULL));
	pipeline_set_quick(p, pipeline_add(p, "SELECT pg_catalog.set_config('search_path', $1, true)", 1, path,
									   PGRES_TUPLES_OK, NULL, NULL));
	PQfreemem(quoted);
	first = p->n;
	for (int i = 0; i < m->verify_script.n_stmts; i++)
		(void) pipeline_add(p, m->verify_script.stmts[i].text, 0, NULL, PGRES_TUPLES_OK, judge_in_pipeline,
							NULL);
	pipeline_set_quick(
		p, pipeline_add(p, "ROLLBACK TO SAVEPOINT toolkit_verify", 0, NULL, PGRES_COMMAND_OK, NULL, NULL));
	pipeline_set_quick(
		p, pipeline_add(p, "RELEASE SAVEPOINT toolkit_verify", 0, NULL, PGRES_COMMAND_OK, NULL, NULL));
	path[0] = "";
	pipeline_set_quick(p, pipeline_add(p, "SELECT pg_catalog.set_config('search_path', $1, true)", 1, path,
									   PGRES_TUPLES_OK, NULL, NULL));
	return first;
}

char *
verify_failure_describe(const verify_failure *f)
{
	if (f->problem)
		return xstrdup(f->problem);
	return db_error_format(&f->err);
}

void
verify_failure_clear(verify_failure *f)
{
	if (f == NULL)
		return;
	db_error_clear(&f->err);
	free(f->problem);
	memset(f, 0, sizeof(*f));
}
