/*-------------------------------------------------------------------------
 *
 * cmd_history.c
 *	  indexer history: what the runs did, from the history table
 *	  (record.h), as a table on stdout or one JSON object a line.
 *
 * Reads only: no lock, nothing created.  A row that started and never
 * finished shows as "interrupted" (its run was killed, or is running now).
 * The table is trusted as any the tools read (relation_trust.h).
 *
 * indexer/cmd_history.c
 *
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "exitcodes.h"
#include "indexer.h"
#include "log.h"
#include "memory.h"
#include "query.h"
#include "record.h"
#include "relation_trust.h"
#include "sqlquote.h"

#define N_COLS 12

static const char *const col_names[N_COLS] = {"started",     "definition",  "table",    "action",
											  "duration_ms", "index_bytes", "sqlstate", "message",
											  "deferred",    "run_id",      "host",     "application_name"};

static char *
history_sql(const char *schema)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_append(
		&sb, "SELECT pg_catalog.to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), "
			 "COALESCE(definition, ''), COALESCE(table_name, ''), "
			 "CASE WHEN action = 'started' THEN 'interrupted' ELSE action END, "
			 "COALESCE(duration_ms::pg_catalog.text, ''), COALESCE(index_bytes::pg_catalog.text, ''), "
			 "COALESCE(sqlstate, ''), COALESCE(message, ''), "
			 "CASE WHEN action = 'deferred' THEN deferred::pg_catalog.text || ' (' || "
			 "runs::pg_catalog.text || ' run' || CASE WHEN runs = 1 THEN '' ELSE 's' END || ')' ELSE '' "
			 "END, run_id, COALESCE(host, ''), COALESCE(application_name, '') FROM ");
	sql_append_ident(&sb, schema);
	textbuf_append_char(&sb, '.');
	sql_append_ident(&sb, RECORD_TABLE);
	textbuf_append(&sb,
				   " WHERE ($1::pg_catalog.float8 IS NULL OR started_at >= "
				   "pg_catalog.to_timestamp($1::pg_catalog.float8)) AND ($2::pg_catalog.text[] IS NULL OR "
				   "definition = ANY ($2::pg_catalog.text[])) ORDER BY started_at, id");
	return textbuf_detach(&sb);
}

/*
 * May v go into JSON unquoted?  Only an integer: the columns read as
 * numbers come from a table that a reader trusts without owning it (the
 * schema's owner may have made it, with text columns), and a value such as
 * "1}\n{..." must not forge a line of the output.
 */
static bool
json_integer(const char *v)
{
	const char *p = v + (v[0] == '-');

	if (*p == '\0')
		return false;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static void
print_json(const PGresult *res)
{
	textbuf sb;

	textbuf_init(&sb);
	for (int i = 0; i < PQntuples(res); i++)
	{
		textbuf_reset(&sb);
		textbuf_append_char(&sb, '{');
		for (int c = 0; c < N_COLS; c++)
		{
			const char *v = PQgetvalue(res, i, c);
			bool        number = (c == 4 || c == 5) && json_integer(v);

			textbuf_appendf(&sb, "%s\"%s\":", c ? "," : "", col_names[c]);
			if (number)
				textbuf_append(&sb, v);
			else if (v[0] == '\0' && c != 3)
				textbuf_append(&sb, "null");
			else
				textbuf_append_json(&sb, v);
		}
		textbuf_append(&sb, "}\n");
		fputs(sb.data, stdout);
	}
	textbuf_free(&sb);
}

/* Columns padded to the widest value; the message last, unpadded; every value escaped. */
static void
print_text(const PGresult *res)
{
	static const int shown[] = {0, 1, 2, 3, 4, 5, 8, 6, 7};
	const int        n_shown = (int) (sizeof(shown) / sizeof(shown[0]));
	const int        n_rows = PQntuples(res);
	char           **cell = xcalloc((size_t) n_rows * N_COLS + 1, sizeof(char *));
	int              width[N_COLS];

	for (int c = 0; c < N_COLS; c++)
	{
		width[c] = (int) strlen(col_names[c]);
		for (int i = 0; i < n_rows; i++)
		{
			cell[i * N_COLS + c] = text_visible(PQgetvalue(res, i, c), true);
			if ((int) strlen(cell[i * N_COLS + c]) > width[c])
				width[c] = (int) strlen(cell[i * N_COLS + c]);
		}
	}
	for (int k = 0; k < n_shown; k++)
		printf(k + 1 < n_shown ? "%-*s  " : "%.*s\n", k + 1 < n_shown ? width[shown[k]] : 99,
			   col_names[shown[k]]);
	for (int i = 0; i < n_rows; i++)
		for (int k = 0; k < n_shown; k++)
			printf(k + 1 < n_shown ? "%-*s  " : "%.*s\n", k + 1 < n_shown ? width[shown[k]] : INT_MAX,
				   cell[i * N_COLS + shown[k]]);
	printf("(%d row%s)\n", n_rows, n_rows == 1 ? "" : "s");
	for (int i = 0; i < n_rows * N_COLS; i++)
		free(cell[i]);
	free(cell);
}

/* Is the table there?  -1 when that could not be read (logged). */
static int
table_present(PGconn *conn, const char *schema)
{
	const char *values[] = {schema, RECORD_TABLE};

	return db_exists(conn, "looking for the history table",
					 "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = "
					 "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
					 2, values);
}

int
record_print(PGconn *conn, const char *schema, int64_t since_ms, char **only, int n_only, bool json)
{
	char           since[64];
	char          *array = n_only > 0 ? db_text_array_literal((const char *const *) only, n_only) : NULL;
	const char    *values[2] = {NULL, array};
	char          *sql, *display = xasprintf("%s.%s", schema, RECORD_TABLE);
	PGresult      *res = NULL;
	int            found = table_present(conn, schema);
	int            rc = EXIT_OK;
	struct timeval tv;
	textbuf        qualified;
	relation_ref   ref = {NULL, schema, RECORD_TABLE, display, true};

	textbuf_init(&qualified);
	sql_append_ident(&qualified, schema);
	textbuf_append(&qualified, ".");
	sql_append_ident(&qualified, RECORD_TABLE);
	ref.qualified = qualified.data;
	gettimeofday(&tv, NULL);
	snprintf(since, sizeof(since), "%.3f", (double) tv.tv_sec - (double) since_ms / 1000.0);
	values[0] = since_ms > 0 ? since : NULL;
	sql = history_sql(schema);
	/* in the transaction that locks and judges the table (relation_trust.h) */
	if (found > 0)
		rc = relation_trust_read(conn, &ref, "reading the history table", sql, 2, values, &res);
	else if (found == 0)
		log_event(LOG_LEVEL_INFO, "no_history", NULL,
				  "no history table \"%s\" yet: indexer build creates it (unless --no-record)", display);
	textbuf_free(&qualified);
	free(sql);
	free(array);
	free(display);
	if (found <= 0 || rc != EXIT_OK)
		return found < 0 ? EXIT_UNREACHABLE : rc;
	if (json)
		print_json(res);
	else
		print_text(res);
	PQclear(res);
	return EXIT_OK;
}

int
cmd_history(run_state *rs)
{
	indexer_options *o = rs->opts;

	return record_print(rs->conn, o->set.record_schema ? o->set.record_schema : o->set.schema, o->since_ms,
						o->only, o->n_only, o->set.format == LOG_FORMAT_JSON);
}
