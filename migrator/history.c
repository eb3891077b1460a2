/*-------------------------------------------------------------------------
 *
 * history.c
 *	  The history table.
 *
 * migrator/history.c
 *
 *-------------------------------------------------------------------------
 */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "pgerr.h"
#include "pipeline.h"
#include "query.h"
#include "relation_trust.h"

/* Our shape, column by column, as format_type() spells the types. */
static const struct
{
	const char *name;
	const char *type;
} history_columns[] = {
	{"version", "bigint"},
	{"name", "text"},
	{"checksum", "text"},
	{"status", "text"},
	{"applied_at", "timestamp with time zone"},
	{"duration_ms", "bigint"},
	{"applied_by", "text"},
	{"failure", "text"},
	{"baseline", "text"}, /* added later: a table without it is ours too */
};
#define N_HISTORY_COLUMNS (sizeof(history_columns) / sizeof(history_columns[0]))
/* the shape before "baseline" was added; history_ensure upgrades it */
#define N_HISTORY_COLUMNS_V1 (N_HISTORY_COLUMNS - 1)

struct history_pin
{
	unsigned int  oid;
	char         *sql;       /* relation_trust_pin_sql's; NULL: none yet */
	char         *guard;     /* relation_trust_guard_sql's; NULL: none yet */
	relation_view view;      /* the view the writes go through (oid 0: none yet) */
	bool          bound;     /* made on the connection, not discarded since */
	bool          fell_back; /* it could not be made: the writes name the table */
};

/* The session's temporary view every write goes through (by_view); a space: no unquoted name. */
#define HISTORY_VIEW "toolkit migrator history"

/* The guard of a write before any verdict: it fails when planned. */
static const char no_guard_sql[] = "SELECT " RELATION_TRUST_NO_PIN;

/* Do the writes go through the view? */
static bool
uses_view(const history_table *ht)
{
	return ht->by_view && !ht->pin->fell_back;
}

/* Pin the writes to oid (0: nothing trusted, no pin). */
static void
pin_to(PGconn *conn, const history_table *ht, unsigned int oid)
{
	free(ht->pin->sql);
	free(ht->pin->guard);
	ht->pin->oid = oid;
	ht->pin->guard = oid != 0
						 ? relation_trust_guard_sql(conn, ht->schema, ht->table, oid,
													uses_view(ht) ? &ht->pin->view : NULL, ht->guard_message)
						 : NULL;
	ht->pin->sql = oid != 0 ? relation_trust_pin_sql(conn, ht->qualified, oid, ht->guard_message) : NULL;
}

const char *
history_pin_sql(const history_table *ht)
{
	return ht->pin->sql != NULL ? ht->pin->sql : RELATION_TRUST_NO_PIN;
}

const char *
history_guard_sql(const history_table *ht)
{
	return ht->pin->guard != NULL ? ht->pin->guard : no_guard_sql;
}

const char *
history_target(const history_table *ht)
{
	return uses_view(ht) ? ht->view_target : ht->qualified;
}

const char *
history_lock_sql(const history_table *ht)
{
	return uses_view(ht) ? ht->view_lock_sql : ht->lock_sql;
}

bool
history_bound(const history_table *ht)
{
	return !uses_view(ht) || ht->pin->bound;
}

void
history_unbind(const history_table *ht)
{
	ht->pin->bound = false;
}

void
history_release(PGconn *conn, const history_table *ht)
{
	if (ht->pin == NULL || !uses_view(ht) || !ht->pin->bound)
		return;
	relation_trust_view_drop(conn, ht->view_target);
	ht->pin->bound = false;
}

/*
 * relation_trust_view_make, in a savepoint when a transaction is open (a
 * baseline's, which creates the table it records in): a view that cannot
 * be made must not abort it.
 */
static bool
make_view(PGconn *conn, const history_table *ht, db_error *made)
{
	bool in_tx = PQtransactionStatus(conn) == PQTRANS_INTRANS;
	bool ok;

	if (in_tx &&
		!db_run_ex(conn, "SAVEPOINT toolkit_view", 0, NULL, PGRES_COMMAND_OK, NULL, made, NULL, false))
		return false;
	ok = relation_trust_view_make(conn, HISTORY_VIEW, ht->qualified, ht->pin->oid, ht->guard_message,
								  &ht->pin->view, made);
	if (in_tx && PQstatus(conn) == CONNECTION_OK)
		db_command_uninterruptible(conn, "ending the view's savepoint",
								   ok ? "RELEASE SAVEPOINT toolkit_view"
									  : "ROLLBACK TO SAVEPOINT toolkit_view");
	return ok;
}

bool
history_bind(PGconn *conn, const history_table *ht, db_error *err)
{
	db_error made = {0};
	char    *msg;

	if (history_bound(ht) || ht->pin->oid == 0)
		return true; /* before a verdict the guard fails every write anyway */
	if (make_view(conn, ht, &made))
	{
		ht->pin->bound = true;
		pin_to(conn, ht, ht->pin->oid); /* the guard checks this view */
		return true;
	}
	/* a view bound elsewhere (22P02), any failure but a refusal of views, or one made before */
	if (!relation_trust_view_refused(&made) || ht->pin->view.oid != 0)
	{
		*err = made;
		return false;
	}
	msg = db_error_format(&made);
	log_event(LOG_LEVEL_WARNING, "history_view_refused", NULL,
			  "could not make the temporary view %s that the history writes go through (%s): they name the "
			  "table %s instead",
			  ht->view_target, msg, ht->display);
	free(msg);
	db_error_clear(&made);
	ht->pin->fell_back = true;
	pin_to(conn, ht, ht->pin->oid);
	relation_trust_warn_if_renamable(conn, ht->schema, ht->display);
	return true;
}

void
history_explain_missing_view(const history_table *ht, db_error *err)
{
	char *message;

	if (!uses_view(ht) || strcmp(err->sqlstate, "42P01") != 0 || err->message == NULL ||
		strstr(err->message, HISTORY_VIEW) == NULL)
		return;
	message = xasprintf("%s: the view this run writes it through is gone, with the table it was bound to "
						"(DROP TABLE ... CASCADE during the run?)",
						ht->guard_message);
	free(err->message);
	err->message = message;
}

bool
history_table_init(history_table *ht, PGconn *conn, const char *schema, const char *table)
{
	char *qs = PQescapeIdentifier(conn, schema, strlen(schema));
	char *qt = PQescapeIdentifier(conn, table, strlen(table));

	memset(ht, 0, sizeof(*ht));
	if (qs == NULL || qt == NULL)
	{
		log_error("could not quote the history table name: %s", PQerrorMessage(conn));
		PQfreemem(qs);
		PQfreemem(qt);
		return false;
	}
	ht->schema = schema;
	ht->table = table;
	ht->qualified = xasprintf("%s.%s", qs, qt);
	ht->display = xasprintf("%s.%s", schema, table);
	ht->lock_sql = relation_trust_lock_sql(ht->qualified);
	ht->view_target = relation_trust_view_target(HISTORY_VIEW);
	ht->view_lock_sql = relation_trust_lock_sql(ht->view_target);
	ht->guard_message =
		xasprintf("refusing to write the history table %s: it is not the table the run checked "
				  "at start-up (dropped and created again by the schema's owner?) or it has a "
				  "trigger, rule or policy now; nothing was recorded",
				  ht->display);
	ht->pin = xcalloc(1, sizeof(*ht->pin));
	PQfreemem(qs);
	PQfreemem(qt);
	return true;
}

void
history_table_free(history_table *ht)
{
	if (ht == NULL)
		return;
	free(ht->qualified);
	free(ht->display);
	free(ht->lock_sql);
	free(ht->view_target);
	free(ht->view_lock_sql);
	free(ht->guard_message);
	if (ht->pin != NULL)
	{
		free(ht->pin->sql);
		free(ht->pin->guard);
	}
	free(ht->pin);
	ht->pin = NULL;
	ht->qualified = ht->display = ht->lock_sql = ht->guard_message = NULL;
	ht->view_target = ht->view_lock_sql = NULL;
}

static const char inspect_sql[] =
	"SELECT c.relkind, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
	"FROM pg_catalog.pg_class c "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
	"WHERE n.nspname = $1 AND c.relname = $2 "
	"ORDER BY a.attnum";

const char *
history_inspect_query(const history_table *ht, const char *values[2])
{
	values[0] = ht->schema;
	values[1] = ht->table;
	return inspect_sql;
}

void
history_inspect_result(const PGresult *res, history_shape *shape, char **found_out)
{
	textbuf found;
	bool    same;
	char    relkind;

	if (found_out)
		*found_out = NULL;
	if (PQntuples(res) == 0)
	{
		*shape = HISTORY_ABSENT;
		return;
	}
	relkind = PQgetvalue(res, 0, 0)[0];
	same = (relkind == 'r' || relkind == 'p') &&
		   (PQntuples(res) == (int) N_HISTORY_COLUMNS || PQntuples(res) == (int) N_HISTORY_COLUMNS_V1);
	textbuf_init(&found);
	if (relkind != 'r' && relkind != 'p')
		textbuf_append(&found, relkind == 'v' ? "a view" : relkind == 'i' ? "an index" : "not a table");
	for (int i = 0; (relkind == 'r' || relkind == 'p') && i < PQntuples(res); i++)
	{
		const char *col = PQgetvalue(res, i, 1);
		const char *type = PQgetvalue(res, i, 2);

		textbuf_appendf(&found, "%s%s %s", i ? ", " : "columns: ", col, type);
		if (same && (strcmp(col, history_columns[i].name) != 0 || strcmp(type, history_columns[i].type) != 0))
			same = false;
	}
	*shape = same ? HISTORY_OURS : HISTORY_FOREIGN;
	if (found_out)
		*found_out = textbuf_detach(&found);
	else
		textbuf_free(&found);
}

int
history_inspect(PGconn *conn, const history_table *ht, history_shape *shape, char **found_out)
{
	const char *values[2];
	const char *sql = history_inspect_query(ht, values);
	PGresult   *res = db_query(conn, "inspecting the history table", sql, 2, values, PGRES_TUPLES_OK);

	if (found_out)
		*found_out = NULL;
	if (res == NULL)
		return EXIT_UNREACHABLE;
	history_inspect_result(res, shape, found_out);
	PQclear(res);
	return EXIT_OK;
}

/*
 * applied_at as the toolkit prints it, 2026-12-01T10:00:00Z, from COPY's ISO
 * form in UTC (2026-12-01 10:00:00.123456+00); anything else (infinity, a
 * year past 9999) as it came.
 */
static char *
iso_utc(const char *copied)
{
	size_t n = copied ? strlen(copied) : 0;

	if (n < 22 || copied[10] != ' ' || copied[4] != '-' || strcmp(copied + n - 3, "+00") != 0)
		return xstrdup(copied ? copied : "");
	return xasprintf("%.10sT%.8sZ", copied, copied + 11);
}

static int
by_version(const void *a, const void *b)
{
	const history_row *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* Fill out (exists, rows sorted by version) from the copied columns (history_columns_read). */
static void
history_from_rows(const copy_rows *rows, bool details, history *out)
{
	out->exists = true;
	out->n = rows->n_rows;
	out->rows = xcalloc((size_t) (out->n > 0 ? out->n : 1), sizeof(history_row));
	for (int i = 0; i < out->n; i++)
	{
		history_row *r = &out->rows[i];
		const char  *v;

		r->version = strtoll(copy_rows_cell(rows, i, 0), NULL, 10);
		r->name = xstrdup(copy_rows_cell(rows, i, 1));
		r->checksum = xstrdup(copy_rows_cell(rows, i, 2));
		r->status = xstrdup(copy_rows_cell(rows, i, 3));
		v = copy_rows_cell(rows, i, 4);
		r->failure = v ? xstrdup(v) : NULL;
		if (!details)
			continue;
		r->applied_at = iso_utc(copy_rows_cell(rows, i, 5));
		v = copy_rows_cell(rows, i, 6);
		r->duration_ms = v ? strtoll(v, NULL, 10) : 0;
		v = copy_rows_cell(rows, i, 7);
		r->applied_by = xstrdup(v ? v : "");
	}
	qsort(out->rows, (size_t) out->n, sizeof(history_row), by_version);
}

/* A foreign table is refused; true when it was. */
static bool
refuse_foreign(const history_table *ht, history_shape shape, const char *found)
{
	if (shape != HISTORY_FOREIGN)
		return false;
	log_event(
		LOG_LEVEL_ERROR, "foreign_history_table", NULL,
		"relation \"%s\" exists but is not a migrator history table (%s); it may belong to another tool: choose another --history-table, or import it with \"migrator baseline --from\"",
		ht->display, found);
	return true;
}

int
history_vet(PGconn *conn, const history_table *ht, bool *present)
{
	history_shape shape;
	char         *found;
	int           rc = history_inspect(conn, ht, &shape, &found);
	unsigned int  oid = 0;

	*present = false;
	if (rc != EXIT_OK || shape == HISTORY_ABSENT)
	{
		free(found);
		return rc;
	}
	rc = refuse_foreign(ht, shape, found) ? EXIT_USAGE : EXIT_OK;
	free(found);
	if (rc != EXIT_OK)
		return rc;
	/* an armed table runs its code as soon as we read or write it */
	rc = relation_trust_check(conn, ht->schema, ht->table, ht->display, ht->read_only, &oid);
	*present = rc == EXIT_OK;
	pin_to(conn, ht, oid);
	return rc;
}

int
history_vet_results(PGconn *conn, const history_table *ht, const PGresult *inspect, const PGresult *trust,
					bool *present)
{
	history_shape shape;
	char         *found;
	int           rc;
	unsigned int  oid = 0;

	*present = false;
	history_inspect_result(inspect, &shape, &found);
	rc = refuse_foreign(ht, shape, found) ? EXIT_USAGE : EXIT_OK;
	free(found);
	if (rc != EXIT_OK || shape == HISTORY_ABSENT)
		return rc;
	rc = relation_trust_judge(conn, trust, ht->schema, ht->table, ht->display, ht->read_only, &oid);
	*present = rc == EXIT_OK;
	pin_to(conn, ht, oid);
	return rc;
}

int
history_read_locked(PGconn *conn, const history_table *ht, history *out)
{
	relation_ref ref = {ht->qualified, ht->schema, ht->table, ht->display, ht->read_only};
	copy_rows    rows;
	int          rc;

	memset(out, 0, sizeof(*out));
	/*
	 * Copied, never planned: planning a read of a table of the schema's
	 * owner (a reader's) would run what it attached in the meantime.
	 */
	copy_rows_init(&rows, ht->read_details ? 8 : 5);
	rc = relation_trust_copy(
		conn, &ref,
		ht->read_details ? "version, name, checksum, status, failure, applied_at, duration_ms, applied_by"
						 : "version, name, checksum, status, failure",
		&rows);
	if (rc == EXIT_OK)
		history_from_rows(&rows, ht->read_details, out);
	copy_rows_free(&rows);
	return rc;
}

int
history_load(PGconn *conn, const history_table *ht, history *out)
{
	bool present;
	int  rc;

	memset(out, 0, sizeof(*out));
	rc = history_vet(conn, ht, &present);
	if (rc != EXIT_OK || !present)
		return rc;
	return history_read_locked(conn, ht, out);
}

/* Does the schema exist?  -1 when the query failed (logged). */
static int
schema_exists(PGconn *conn, const char *schema)
{
	const char *values[1] = {schema};

	return db_exists(conn, "looking up the schema",
					 "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", 1, values);
}

/*
 * Is the history table there, and does it have the "baseline" column?
 * Returns false when the query failed (logged).
 */
static bool
table_state(PGconn *conn, const history_table *ht, bool *table, bool *baseline_column)
{
	const char *values[2] = {ht->schema, ht->table};
	PGresult   *res = db_query(conn, "looking up the history table",
							   "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a "
								 "WHERE a.attrelid = c.oid AND a.attname = 'baseline' AND NOT a.attisdropped) "
								 "FROM pg_catalog.pg_class c "
								 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
								 "WHERE n.nspname = $1 AND c.relname = $2",
							   2, values, PGRES_TUPLES_OK);

	if (res == NULL)
		return false;
	*table = PQntuples(res) > 0;
	*baseline_column = *table && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return true;
}

int
history_ensure(PGconn *conn, const history_table *ht)
{
	int          have_schema = schema_exists(conn, ht->schema);
	bool         have_table, have_column;
	char        *sql;
	bool         ok;
	unsigned int oid = 0;

	if (have_schema < 0)
		return EXIT_CHANGE_FAILED;
	if (!have_schema && !ht->create_schema)
	{
		/* a typo in --schema must not grow a second, empty schema */
		log_event(LOG_LEVEL_ERROR, "schema_missing", NULL,
				  "schema \"%s\" does not exist; create it, or pass --create-schema", ht->schema);
		return EXIT_USAGE;
	}
	if (!have_schema)
	{
		int rc = db_create_schema(conn, ht->schema);

		if (rc != EXIT_OK)
			return rc;
		log_event(LOG_LEVEL_INFO, "schema_created", NULL, "created schema \"%s\" (--create-schema)",
				  ht->schema);
	}
	if (!table_state(conn, ht, &have_table, &have_column))
		return EXIT_CHANGE_FAILED;
	/* another role may have made it since the history was read */
	if (have_table && relation_trust_check(conn, ht->schema, ht->table, ht->display, false, &oid) != EXIT_OK)
		return EXIT_USAGE;
	if (have_table)
		pin_to(conn, ht, oid);
	if (have_table && have_column)
		return EXIT_OK;
	if (have_table)
	{
		/* the shape before "baseline": add the column (ACCESS EXCLUSIVE, brief) */
		sql = xasprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS baseline text", ht->qualified);
		ok = db_command(conn, "adding the baseline column to the history table", sql);
		free(sql);
		if (!ok)
			return EXIT_CHANGE_FAILED;
		log_event(LOG_LEVEL_INFO, "history_upgraded", NULL,
				  "added column \"baseline\" to history table \"%s\"", ht->display);
		return EXIT_OK;
	}
	sql = xasprintf("CREATE TABLE IF NOT EXISTS %s ("
					"version bigint PRIMARY KEY, "
					"name text NOT NULL, "
					"checksum text NOT NULL, "
					"status text NOT NULL CHECK (status IN ('applied', 'failed')), "
					"applied_at timestamp with time zone NOT NULL DEFAULT now(), "
					"duration_ms bigint, "
					"applied_by text, "
					"failure text, "
					"baseline text)",
					ht->qualified);
	ok = db_command(conn, "creating the history table", sql);
	free(sql);
	if (!ok)
		return EXIT_CHANGE_FAILED;
	/* IF NOT EXISTS: another role may have created it first */
	if (relation_trust_check(conn, ht->schema, ht->table, ht->display, false, &oid) != EXIT_OK)
		return EXIT_USAGE;
	pin_to(conn, ht, oid);
	log_event(LOG_LEVEL_INFO, "history_created", NULL, "created history table \"%s\"", ht->display);
	return EXIT_OK;
}

void
history_free(history *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < h->n; i++)
	{
		free(h->rows[i].name);
		free(h->rows[i].checksum);
		free(h->rows[i].status);
		free(h->rows[i].applied_at);
		free(h->rows[i].applied_by);
		free(h->rows[i].failure);
	}
	free(h->rows);
	memset(h, 0, sizeof(*h));
}
