/*-------------------------------------------------------------------------
 *
 * cmd_history.c
 *	  indexer history: what the runs did, from the history table
 *	  (record.h), as a table on stdout or one JSON object a line.
 *
 * Reads only, nothing created: the table is copied out under its ACCESS
 * SHARE lock (relation_trust_copy), and filtered, ordered and formatted here.  A row that started and never
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

/*
 * The record table's columns, copied out and never planned
 * (relation_trust_copy: this reader trusts a table of the schema's owner);
 * the filter, the order and the shown forms are made here.
 */
static const char copied_columns[] =
	"id, started_at, definition, table_name, action, duration_ms, index_bytes, "
	"sqlstate, message, deferred, runs, run_id, host, application_name";
enum
{
	C_ID,
	C_STARTED,
	C_DEFINITION,
	C_TABLE,
	C_ACTION,
	C_DURATION,
	C_BYTES,
	C_SQLSTATE,
	C_MESSAGE,
	C_DEFERRED,
	C_RUNS,
	C_RUN_ID,
	C_HOST,
	C_APP,
	N_COPIED
};

/* One row shown: its order key and its N_COLS cells (col_names). */
typedef struct shown_row
{
	double  started;
	int64_t id;
	char   *cell[N_COLS];
} shown_row;

static const char *
or_empty(const char *v)
{
	return v ? v : "";
}

static bool
wanted(const copy_rows *rows, int i, double since, char **only, int n_only)
{
	const char *def = copy_rows_cell(rows, i, C_DEFINITION);
	bool        listed = n_only == 0;

	for (int k = 0; k < n_only && !listed && def; k++)
		listed = strcmp(only[k], def) == 0;
	return listed && copy_rows_epoch_or_end(copy_rows_cell(rows, i, C_STARTED)) >= since;
}

/* Row i as shown: the started time to the second, an unfinished row "interrupted", a deferral counted. */
static void
shown_fill(shown_row *r, const copy_rows *rows, int i)
{
	const char      *started = or_empty(copy_rows_cell(rows, i, C_STARTED));
	const char      *action = or_empty(copy_rows_cell(rows, i, C_ACTION));
	const char      *deferred = copy_rows_cell(rows, i, C_DEFERRED), *runs = copy_rows_cell(rows, i, C_RUNS);
	static const int same[][2] = {{1, C_DEFINITION}, {2, C_TABLE},    {4, C_DURATION},
								  {5, C_BYTES},      {6, C_SQLSTATE}, {7, C_MESSAGE},
								  {9, C_RUN_ID},     {10, C_HOST},    {11, C_APP}};

	r->started = copy_rows_epoch_or_end(started);
	r->id = strtoll(or_empty(copy_rows_cell(rows, i, C_ID)), NULL, 10);
	r->cell[0] = copy_rows_epoch(started, &(double){0}) ? xstrndup(started, 19) : xstrdup(started);
	for (size_t k = 0; k < sizeof(same) / sizeof(same[0]); k++)
		r->cell[same[k][0]] = xstrdup(or_empty(copy_rows_cell(rows, i, same[k][1])));
	r->cell[3] = xstrdup(strcmp(action, "started") == 0 ? "interrupted" : action);
	r->cell[8] = strcmp(action, "deferred") == 0 && deferred && runs
					 ? xasprintf("%s (%s run%s)", deferred, runs, strcmp(runs, "1") == 0 ? "" : "s")
					 : xstrdup("");
}

static int
by_started(const void *a, const void *b)
{
	const shown_row *x = a, *y = b;

	if (x->started != y->started)
		return x->started < y->started ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
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
print_json(const shown_row *rows, int n_rows)
{
	textbuf sb;

	textbuf_init(&sb);
	for (int i = 0; i < n_rows; i++)
	{
		textbuf_reset(&sb);
		textbuf_append_char(&sb, '{');
		for (int c = 0; c < N_COLS; c++)
		{
			const char *v = rows[i].cell[c];
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
print_text(const shown_row *rows, int n_rows)
{
	static const int shown[] = {0, 1, 2, 3, 4, 5, 8, 6, 7};
	const int        n_shown = (int) (sizeof(shown) / sizeof(shown[0]));
	char           **cell = xcalloc((size_t) n_rows * N_COLS + 1, sizeof(char *));
	int              width[N_COLS];

	for (int c = 0; c < N_COLS; c++)
	{
		width[c] = (int) strlen(col_names[c]);
		for (int i = 0; i < n_rows; i++)
		{
			cell[i * N_COLS + c] = text_visible(rows[i].cell[c], true);
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

/* The rows to show, in order (*n of them; caller frees each cell and the array). */
static shown_row *
shown_rows(const copy_rows *rows, int64_t since_ms, char **only, int n_only, int *n)
{
	shown_row     *out = xcalloc((size_t) rows->n_rows + 1, sizeof(shown_row));
	struct timeval tv;
	double         since = -1e300;

	gettimeofday(&tv, NULL);
	if (since_ms > 0)
		since = (double) tv.tv_sec + tv.tv_usec / 1e6 - (double) since_ms / 1000.0;
	*n = 0;
	for (int i = 0; i < rows->n_rows; i++)
		if (wanted(rows, i, since, only, n_only))
			shown_fill(&out[(*n)++], rows, i);
	qsort(out, (size_t) *n, sizeof(shown_row), by_started);
	return out;
}

int
record_print(PGconn *conn, const char *schema, int64_t since_ms, char **only, int n_only, bool json)
{
	char        *display = xasprintf("%s.%s", schema, RECORD_TABLE);
	int          found = table_present(conn, schema);
	int          rc = EXIT_OK, n = 0;
	textbuf      qualified;
	relation_ref ref = {NULL, schema, RECORD_TABLE, display, true};
	copy_rows    rows;
	shown_row   *shown;

	textbuf_init(&qualified);
	sql_append_ident(&qualified, schema);
	textbuf_append(&qualified, ".");
	sql_append_ident(&qualified, RECORD_TABLE);
	ref.qualified = qualified.data;
	copy_rows_init(&rows, N_COPIED);
	/* in the transaction that locks and judges the table, copied (relation_trust.h) */
	if (found > 0)
		rc = relation_trust_copy(conn, &ref, copied_columns, &rows);
	else if (found == 0)
		log_event(LOG_LEVEL_INFO, "no_history", NULL,
				  "no history table \"%s\" yet: indexer build creates it (unless --no-record)", display);
	textbuf_free(&qualified);
	free(display);
	if (found <= 0 || rc != EXIT_OK)
	{
		copy_rows_free(&rows);
		return found < 0 ? EXIT_UNREACHABLE : rc;
	}
	shown = shown_rows(&rows, since_ms, only, n_only, &n);
	copy_rows_free(&rows);
	if (json)
		print_json(shown, n);
	else
		print_text(shown, n);
	for (int i = 0; i < n; i++)
		for (int c = 0; c < N_COLS; c++)
			free(shown[i].cell[c]);
	free(shown);
	return EXIT_OK;
}

int
cmd_history(run_state *rs)
{
	indexer_options *o = rs->opts;

	return record_print(rs->conn, o->set.record_schema ? o->set.record_schema : o->set.schema, o->since_ms,
						o->only, o->n_only, o->set.format == LOG_FORMAT_JSON);
}
