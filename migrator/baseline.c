/*-------------------------------------------------------------------------
 *
 * baseline.c
 *	  Adopting a database that another runner migrated.
 *
 * migrator/baseline.c
 *
 *-------------------------------------------------------------------------
 */
#include "baseline.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "exitcodes.h"
#include "history_write.h"
#include "log.h"
#include "memory.h"
#include "pgerr.h"
#include "query.h"
#include "relation_trust.h"
#include "verify.h"

static const struct
{
	const char     *name;
	baseline_source source;
	const char     *table;          /* the tool's table, in --schema */
	const char     *renamed_suffix; /* when it has our table's name */
} tools[] = {
	{"dbmate", BASELINE_DBMATE, "schema_migrations", "_dbmate"},
	{"golang-migrate", BASELINE_GOLANG_MIGRATE, "schema_migrations", "_golang_migrate"},
	{"flyway", BASELINE_FLYWAY, "flyway_schema_history", "_flyway"},
};

bool
baseline_parse_source(const char *s, baseline_source *out)
{
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (strcmp(tools[i].name, s) == 0)
		{
			*out = tools[i].source;
			return true;
		}
	return false;
}

static int
tool_index(baseline_source from)
{
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (tools[i].source == from)
			return (int) i;
	return -1;
}

/* A version as the other tool wrote it, as ours: digits only, > 0. */
static bool
parse_version_text(const char *s, int64_t *out)
{
	char     *end;
	long long v;

	if (!isdigit((unsigned char) s[0]))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return false;
	*out = v;
	return true;
}

/* column name -> type of the other tool's table; "" when absent */
static const char *
column_type(PGresult *cols, const char *name)
{
	for (int i = 0; i < PQntuples(cols); i++)
		if (strcmp(PQgetvalue(cols, i, 0), name) == 0)
			return PQgetvalue(cols, i, 1);
	return "";
}

/*
 * The columns (name, type) of the other tool's table in schema.  NULL with
 * *rc set when it cannot be read (EXIT_UNREACHABLE) or, after logging, does
 * not exist (EXIT_USAGE).  Caller clears the result.
 */
static PGresult *
read_tool_columns(PGconn *conn, const char *schema, int ti, int *rc)
{
	const char *values[2] = {schema, tools[ti].table};
	PGresult   *cols = db_query(conn, "reading the other tool's table",
								"SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
								  "FROM pg_catalog.pg_attribute a "
								  "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
								  "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
								  "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') "
								  "AND a.attnum > 0 AND NOT a.attisdropped",
								2, values, PGRES_TUPLES_OK);

	if (cols == NULL)
	{
		*rc = EXIT_UNREACHABLE;
		return NULL;
	}
	if (PQntuples(cols) == 0)
	{
		log_event(LOG_LEVEL_ERROR, "baseline_source_missing", NULL,
				  "no table \"%s.%s\": nothing to import from %s", schema, tools[ti].table, tools[ti].name);
		PQclear(cols);
		*rc = EXIT_USAGE;
		return NULL;
	}
	return cols;
}

/*
 * Do the columns cols have the shape of tools[ti]'s table?  *columns: the
 * columns its versions are read from (version first; static).
 */
static bool
tool_table_shape(PGresult *cols, int ti, const char **columns)
{
	switch (tools[ti].source)
	{
		case BASELINE_DBMATE:
			*columns = "version";
			return strncmp(column_type(cols, "version"), "character varying", 17) == 0 &&
				   column_type(cols, "dirty")[0] == '\0';
		case BASELINE_GOLANG_MIGRATE:
			*columns = "version, dirty";
			return strcmp(column_type(cols, "version"), "bigint") == 0 &&
				   strcmp(column_type(cols, "dirty"), "boolean") == 0;
		default:
			*columns = "version, success";
			return column_type(cols, "version")[0] != '\0' &&
				   strcmp(column_type(cols, "success"), "boolean") == 0 &&
				   column_type(cols, "installed_rank")[0] != '\0';
	}
}

/*
 * golang-migrate keeps exactly one row, its last version and whether that
 * one failed half-way.  EXIT_OK for one clean row; otherwise an exit code
 * after logging.
 */
static int
check_golang_migrate_row(const copy_rows *rows, const char *schema, int ti)
{
	const char *version = rows->n_rows == 1 ? copy_rows_cell(rows, 0, 0) : NULL;
	const char *dirty = rows->n_rows == 1 ? copy_rows_cell(rows, 0, 1) : NULL;

	if (rows->n_rows != 1)
	{
		log_event(LOG_LEVEL_ERROR, "baseline_source_shape", NULL,
				  "golang-migrate's table \"%s.%s\" has %d rows; it keeps exactly one", schema,
				  tools[ti].table, rows->n_rows);
		return EXIT_USAGE;
	}
	if (dirty != NULL && strcmp(dirty, "t") == 0)
	{
		log_event(
			LOG_LEVEL_ERROR, "baseline_dirty", NULL,
			"golang-migrate marks version %s dirty: a migration failed half-way; repair the schema by hand and clear the flag (migrate force %s) before adopting",
			version ? version : "(null)", version ? version : "(null)");
		return EXIT_HISTORY_MISMATCH;
	}
	return EXIT_OK;
}

static int
by_version(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/*
 * The versions the other tool applied (flyway's: those that succeeded), as
 * ours, into *versions (*n of them, in order; caller frees).  Each one
 * that is not a positive integer is logged, and makes it return EXIT_USAGE.
 */
static int
parse_tool_versions(const copy_rows *rows, int ti, int64_t **versions, int *n)
{
	int rc = EXIT_OK;

	*versions = xcalloc((size_t) rows->n_rows + 1, sizeof(int64_t));
	for (int i = 0; i < rows->n_rows; i++)
	{
		const char *text = copy_rows_cell(rows, i, 0);
		const char *success = tools[ti].source == BASELINE_FLYWAY ? copy_rows_cell(rows, i, 1) : "t";

		if (text == NULL || success == NULL || strcmp(success, "t") != 0)
			continue; /* flyway: a failed one, or a repeatable one (no version) */
		if (!parse_version_text(text, &(*versions)[*n]))
		{
			log_event(
				LOG_LEVEL_ERROR, "baseline_version", NULL,
				"%s version \"%s\" is not a positive integer; rename the migrations to integer versions before adopting",
				tools[ti].name, text);
			rc = EXIT_USAGE;
			continue;
		}
		(*n)++;
	}
	qsort(*versions, (size_t) *n, sizeof(int64_t), by_version);
	return rc;
}

/*
 * Read the versions the other tool applied into *versions (in order).
 * Returns EXIT_OK or an exit code after logging.  Its rows become our
 * history, and baseline renames it: a table another role owns could be
 * forged, or armed (a policy runs on every read), so it is judged as a
 * table of ours, then read as ours are (relation_trust_copy: a COPY, never
 * planned, checked after: a SELECT here ran a view's function of the
 * schema's owner that a rename put under the name, and took its versions).
 */
static int
read_tool_versions(PGconn *conn, const char *schema, int ti, int64_t **versions, int *n, char **qualified_out)
{
	char        *qs = PQescapeIdentifier(conn, schema, strlen(schema));
	char        *qt = PQescapeIdentifier(conn, tools[ti].table, strlen(tools[ti].table));
	char        *qualified = xasprintf("%s.%s", qs, qt);
	char        *display = xasprintf("%s.%s", schema, tools[ti].table);
	relation_ref ref = {qualified, schema, tools[ti].table, display, false};
	const char  *columns = NULL;
	PGresult    *cols;
	copy_rows    rows;
	int          rc;

	PQfreemem(qs);
	PQfreemem(qt);
	*versions = NULL;
	*n = 0;
	rc = relation_trust_check(conn, schema, tools[ti].table, display, false, NULL);
	cols = rc == EXIT_OK ? read_tool_columns(conn, schema, ti, &rc) : NULL;
	if (cols != NULL && !tool_table_shape(cols, ti, &columns))
	{
		log_event(LOG_LEVEL_ERROR, "baseline_source_shape", NULL,
				  "table \"%s.%s\" does not have the shape of %s's table", schema, tools[ti].table,
				  tools[ti].name);
		rc = EXIT_USAGE;
	}
	PQclear(cols);
	copy_rows_init(&rows, tools[ti].source == BASELINE_DBMATE ? 1 : 2);
	if (rc == EXIT_OK)
		rc = relation_trust_copy(conn, &ref, columns, &rows);
	if (rc == EXIT_OK && tools[ti].source == BASELINE_GOLANG_MIGRATE)
		rc = check_golang_migrate_row(&rows, schema, ti);
	if (rc == EXIT_OK)
		rc = parse_tool_versions(&rows, ti, versions, n);
	copy_rows_free(&rows);
	free(display);
	if (rc == EXIT_OK)
		*qualified_out = qualified;
	else
	{
		free(qualified);
		free(*versions);
		*versions = NULL;
		*n = 0;
	}
	return rc;
}

static bool
contains(const int64_t *v, int n, int64_t x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* Refuse a history that already has rows.  EXIT_OK when it is empty. */
static int
refuse_nonempty(PGconn *conn, const history_table *ht)
{
	history h;
	int     rc = history_load(conn, ht, &h);

	if (rc == EXIT_OK && h.n > 0)
	{
		log_event(
			LOG_LEVEL_ERROR, "baseline_refused", NULL,
			"the history \"%s\" already has %d row%s: baseline only adopts a database with an empty history",
			ht->display, h.n, h.n == 1 ? "" : "s");
		rc = EXIT_USAGE;
	}
	history_free(&h);
	return rc;
}

static bool
skipped(const baseline_options *o, int64_t version)
{
	return o->no_verify || contains(o->skip_verify, o->n_skip_verify, version);
}

/*
 * Every --skip-verify names a migration being recorded that has a verify
 * file: a skip that excuses nothing is a typo, and would be recorded as a
 * lie.  EXIT_OK or EXIT_USAGE after logging.
 */
static int
check_skips(const migration_set *files, const bool *take, const baseline_options *o)
{
	int rc = EXIT_OK;

	for (int i = 0; i < o->n_skip_verify; i++)
	{
		const migration *m = migration_set_find(files, o->skip_verify[i]);
		bool             taken = m != NULL && take[m - files->items];

		if (!taken || m->verify_path == NULL)
		{
			log_event(LOG_LEVEL_ERROR, "invalid_skip_verify", NULL, "--skip-verify %lld: %s",
					  (long long) o->skip_verify[i],
					  m == NULL ? "no migration file has that version"
					  : !taken  ? "that migration is not among those this baseline records"
								: "that migration has no verify file");
			rc = EXIT_USAGE;
		}
	}
	return rc;
}

/*
 * The run's bounds in the verify transaction: --lock-timeout, and
 * --statement-timeout only when given (else the session's own stays).
 */
static int
verify_bounds(PGconn *conn, const baseline_options *o)
{
	char        lt[32], st[32];
	const char *values[2] = {lt, st};
	bool        with_st = o->statement_timeout_ms >= 0;
	db_error    err = {0};
	int         rc = EXIT_OK;

	snprintf(lt, sizeof(lt), "%lldms", (long long) o->lock_timeout_ms);
	snprintf(st, sizeof(st), "%lldms", (long long) o->statement_timeout_ms);
	if (!db_run(conn,
				with_st ? "SELECT pg_catalog.set_config('lock_timeout', $1, true), "
						  "pg_catalog.set_config('statement_timeout', $2, true)"
						: "SELECT pg_catalog.set_config('lock_timeout', $1, true)",
				with_st ? 2 : 1, values, PGRES_TUPLES_OK, NULL, &err, NULL))
	{
		log_error("setting the verify files' bounds: %s", err.message);
		rc = EXIT_CHANGE_FAILED;
	}
	db_error_clear(&err);
	return rc;
}

/*
 * Run the verify files of the migrations to record, read-only, in one
 * transaction that is rolled back: checking the schema changes nothing.
 * Every failure is logged; the last line names the first.  Returns EXIT_OK,
 * EXIT_USAGE (a verify file does not parse), EXIT_CHANGE_FAILED (a verify
 * failed) or EXIT_UNREACHABLE.
 */
static int
run_verifies(PGconn *conn, migration_set *files, const bool *take, const baseline_options *o)
{
	int   n_failed = 0, n_run = 0;
	char *first = NULL;
	int   rc = EXIT_OK;

	for (int i = 0; i < files->n; i++)
		if (take[i] && !skipped(o, files->items[i].version) &&
			migration_parse_verify(&files->items[i]) != EXIT_OK)
			rc = EXIT_USAGE;
	if (rc != EXIT_OK)
		return rc;
	if (!db_command(conn, "starting the verify transaction", "BEGIN READ ONLY"))
		return EXIT_UNREACHABLE;
	rc = verify_bounds(conn, o);
	for (int i = 0; rc == EXIT_OK && i < files->n; i++)
	{
		migration     *m = &files->items[i];
		verify_failure f;
		char          *why;

		if (!take[i] || m->verify_path == NULL || skipped(o, m->version))
			continue;
		n_run++;
		if (verify_run(conn, m, o->schema, &f))
		{
			log_event(LOG_LEVEL_INFO, "baseline_verified", NULL, "verify of migration %lld holds (%s)",
					  (long long) m->version, m->verify_path);
			continue;
		}
		if (f.err.cls == PGERR_CANCELED_BY_US)
		{
			/* our own cancel is no verdict on the schema: baseline_run says what it was */
			rc = pgerr_exit_code(f.err.cls, cancel_exit_code());
			verify_failure_clear(&f);
			break;
		}
		why = verify_failure_describe(&f);
		log_event(LOG_LEVEL_ERROR, "baseline_verify_failed", NULL,
				  "verify of migration %lld failed at %s:%d: %s", (long long) m->version, f.path, f.line,
				  why);
		if (first == NULL)
			first =
				xasprintf("migration %lld failed at %s:%d: %s", (long long) m->version, f.path, f.line, why);
		n_failed++;
		if (f.err.cls == PGERR_CONNECTION_LOST)
			rc = EXIT_UNREACHABLE;
		free(why);
		verify_failure_clear(&f);
	}
	if (PQstatus(conn) == CONNECTION_OK)
		db_command_uninterruptible(conn, "ending the verify transaction", "ROLLBACK");
	if (n_failed > 0)
	{
		log_event(
			LOG_LEVEL_ERROR, "baseline_refused", NULL,
			"baseline refused, nothing recorded: the verify of %s%s; the database does not hold what the files say (wrong database or version?), or pass --skip-verify VERSION for a check that no longer holds by design",
			first, n_failed > 1 ? " (and more, above)" : "");
		if (rc == EXIT_OK)
			rc = EXIT_CHANGE_FAILED;
	}
	else if (rc == EXIT_OK)
		log_event(LOG_LEVEL_INFO, "baseline_verify_done", NULL, "%d verify file%s hold%s", n_run,
				  n_run == 1 ? "" : "s", n_run == 1 ? "s" : "");
	free(first);
	return rc;
}

/* What the "baseline" column says of one recorded row; caller frees. */
static char *
baseline_note(const migration *m, const baseline_options *o, int ti)
{
	char        source[64];
	const char *verify = m->verify_path == NULL ? "no verify file"
						 : o->no_verify         ? "verify skipped (--no-verify)"
						 : contains(o->skip_verify, o->n_skip_verify, m->version)
							 ? "verify skipped (--skip-verify)"
							 : "verify passed";

	if (ti >= 0)
		snprintf(source, sizeof(source), "from %s", tools[ti].name);
	else
		snprintf(source, sizeof(source), "--baseline-version %lld", (long long) o->version);
	return xasprintf("%s; %s", source, verify);
}

/*
 * May a baseline go ahead with what has the history table's name?  Our
 * table must be empty; another tool's table may sit there only when it is
 * the one we import from (tools[ti]), and then *rename_ours says to move it
 * aside.  EXIT_OK, or an exit code after logging.
 */
static int
check_history_adoptable(PGconn *conn, const history_table *ht, int ti, bool *rename_ours)
{
	history_shape shape;
	char         *found = NULL;
	int           rc = history_inspect(conn, ht, &shape, &found);

	if (rc == EXIT_OK && shape == HISTORY_OURS)
		rc = refuse_nonempty(conn, ht);
	else if (rc == EXIT_OK && shape == HISTORY_FOREIGN)
	{
		/* only the tool we import from may sit under our table's name */
		if (ti < 0 || strcmp(tools[ti].table, ht->table) != 0)
		{
			log_event(
				LOG_LEVEL_ERROR, "foreign_history_table", NULL,
				"relation \"%s\" exists but is not a migrator history table (%s); import it with \"migrator baseline --from dbmate|golang-migrate\", or choose another --history-table",
				ht->display, found);
			rc = EXIT_USAGE;
		}
		else
			*rename_ours = true;
	}
	free(found);
	return rc;
}

/*
 * The versions tools[ti] applied, each of which must have its file; for
 * golang-migrate, which keeps only its last version, that one becomes
 * *version (everything up to it applied) and *n_versions is 0.  EXIT_OK, or
 * an exit code after logging every missing file.
 */
static int
import_tool_versions(PGconn *conn, const history_table *ht, const migration_set *files,
					 const baseline_options *o, int ti, int64_t **versions, int *n_versions,
					 char **tool_table, int64_t *version)
{
	int rc = read_tool_versions(conn, ht->schema, ti, versions, n_versions, tool_table);

	if (rc != EXIT_OK)
		return rc;
	for (int i = 0; i < *n_versions; i++)
		if (migration_set_find(files, (*versions)[i]) == NULL)
		{
			log_event(
				LOG_LEVEL_ERROR, "baseline_missing_file", NULL,
				"%s applied version %lld but \"%s\" has no file for it (database %s); add it (renamed to <version>_<name>.sql) before adopting",
				tools[ti].name, (long long) (*versions)[i], o->dir, o->target);
			rc = EXIT_HISTORY_MISMATCH;
		}
	if (rc != EXIT_OK)
		return rc;
	if (o->from == BASELINE_GOLANG_MIGRATE)
	{
		*version = *n_versions > 0 ? (*versions)[0] : 0;
		*n_versions = 0;
	}
	return EXIT_OK;
}

/*
 * Which files the baseline records: those up to version (--baseline-version,
 * golang-migrate), or those among the applied versions.  Returns one flag
 * per file (caller frees); *n_take counts them, *n_skipped those whose
 * verify file is skipped.
 */
static bool *
choose_migrations(const migration_set *files, const baseline_options *o, int64_t version,
				  const int64_t *versions, int n_versions, int *n_take, int *n_skipped)
{
	bool *take = xcalloc((size_t) files->n + 1, sizeof(bool));

	for (int i = 0; i < files->n; i++)
	{
		int64_t v = files->items[i].version;

		take[i] = (o->from == BASELINE_VERSION || o->from == BASELINE_GOLANG_MIGRATE)
					  ? v <= version
					  : contains(versions, n_versions, v);
		*n_take += take[i];
		*n_skipped += take[i] && files->items[i].verify_path != NULL && skipped(o, v);
	}
	return take;
}

/* Move the other tool's table out of our table's way (in the baseline's transaction). */
static bool
rename_tool_table(PGconn *conn, const history_table *ht, int ti)
{
	char *newname = xasprintf("%s%s", ht->table, tools[ti].renamed_suffix);
	char *qn = PQescapeIdentifier(conn, newname, strlen(newname));
	char *sql = xasprintf("ALTER TABLE %s RENAME TO %s", ht->qualified, qn);
	bool  ok = db_command(conn, "renaming the other tool's table", sql);

	if (ok)
		log_event(LOG_LEVEL_INFO, "baseline_renamed", NULL, "renamed %s's table \"%s\" to \"%s.%s\"",
				  tools[ti].name, ht->display, ht->schema, newname);
	free(sql);
	PQfreemem(qn);
	free(newname);
	return ok;
}

/* A history row, applied, with its baseline note, for each file taken. */
static bool
record_taken(PGconn *conn, const history_table *ht, const migration_set *files, const bool *take,
			 const baseline_options *o, int ti)
{
	db_error err = {0};
	bool     ok = history_bind(conn, ht, &err); /* once, for every row */

	if (!ok)
		log_event(LOG_LEVEL_ERROR, "baseline_failed", NULL,
				  "making the view the history writes go through: %s", err.message);
	for (int i = 0; ok && i < files->n; i++)
	{
		const migration *m = &files->items[i];
		char            *note;

		if (!take[i])
			continue;
		note = baseline_note(m, o, ti);
		ok = history_record_baseline(conn, ht, m->version, m->name, m->checksum, note, &err);
		free(note);
		if (!ok)
			log_event(LOG_LEVEL_ERROR, "baseline_failed", NULL, "recording version %lld: %s",
					  (long long) m->version, err.message);
	}
	db_error_clear(&err);
	return ok;
}

/*
 * One transaction: rename theirs, create ours, record: all or nothing.
 * EXIT_OK when committed; otherwise an exit code after logging, with the
 * transaction rolled back.
 */
static int
record_baseline(PGconn *conn, const history_table *ht, const migration_set *files, const bool *take,
				const baseline_options *o, int ti, bool rename_ours, bool *committing)
{
	int rc = EXIT_OK;

	if (!db_command(conn, "starting the baseline", "BEGIN"))
		return EXIT_CHANGE_FAILED;
	if (rename_ours && !rename_tool_table(conn, ht, ti))
		rc = EXIT_CHANGE_FAILED;
	/* creates ours, or gives one of the first shape its baseline column */
	else if ((rc = history_ensure(conn, ht)) == EXIT_OK && !record_taken(conn, ht, files, take, o, ti))
		rc = EXIT_CHANGE_FAILED;
	if (rc != EXIT_OK)
	{
		db_command_uninterruptible(conn, "rolling back the baseline", "ROLLBACK");
		history_unbind(ht); /* a view made in it went with it */
		return rc;
	}
	*committing = true;
	if (!db_command(conn, "committing the baseline", "COMMIT"))
		return EXIT_CHANGE_FAILED;
	return EXIT_OK;
}

/*
 * A baseline that failed while SIGINT/SIGTERM was pending was stopped by
 * the toolkit's own cancel: the signal's exit code (130/143, as every
 * command), and a last line that says so, not the failure the cancel
 * caused.  Any other rc is returned as it is.
 */
static int
interrupted(int rc, bool committing)
{
	if (!cancel_pending())
		return rc;
	if (committing)
		log_event(
			LOG_LEVEL_ERROR, "interrupted", NULL,
			"interrupted by %s while the baseline committed: run \"migrator status\" to see whether it was recorded",
			cancel_signal_name());
	else
		log_event(LOG_LEVEL_ERROR, "interrupted", NULL,
				  "interrupted by %s: baseline stopped, nothing recorded", cancel_signal_name());
	return cancel_exit_code();
}

int
baseline_run(PGconn *conn, const history_table *ht, migration_set *files, const baseline_options *o)
{
	int      ti = tool_index(o->from);
	int64_t  version = o->version;
	int64_t *versions = NULL;
	int      n_versions = 0;
	char    *tool_table = NULL;
	bool     rename_ours = false;
	bool    *take = NULL;
	bool     committing = false;
	int      n_take = 0;
	int      n_skipped = 0;
	int      rc;

	if (o->from == BASELINE_VERSION && migration_set_find(files, version) == NULL)
	{
		/* a version without a file is a typo more often than a plan */
		log_event(
			LOG_LEVEL_ERROR, "invalid_baseline_version", NULL,
			"--baseline-version %lld: no migration file in \"%s\" has that version; give the version of the last file the database has applied",
			(long long) version, o->dir);
		return EXIT_USAGE;
	}
	rc = check_history_adoptable(conn, ht, ti, &rename_ours);
	if (rc == EXIT_OK && ti >= 0)
		rc = import_tool_versions(conn, ht, files, o, ti, &versions, &n_versions, &tool_table, &version);
	if (rc != EXIT_OK)
		goto done;

	take = choose_migrations(files, o, version, versions, n_versions, &n_take, &n_skipped);
	if (n_take == 0)
	{
		log_event(LOG_LEVEL_ERROR, "baseline_empty", NULL,
				  "nothing to baseline: no migration file in \"%s\" %s", o->dir,
				  o->from == BASELINE_VERSION || o->from == BASELINE_GOLANG_MIGRATE
					  ? "has a version up to the one given"
					  : "matches an applied version");
		rc = EXIT_USAGE;
		goto done;
	}
	if ((rc = check_skips(files, take, o)) != EXIT_OK)
		goto done;

	/* the schema must hold what the files say before we say they ran */
	if (o->no_verify && n_skipped > 0)
		log_warning(
			"--no-verify: recording %d migration%s without running %d verify file%s; the history will say so",
			n_take, n_take == 1 ? "" : "s", n_skipped, n_skipped == 1 ? "" : "s");
	if ((rc = run_verifies(conn, files, take, o)) != EXIT_OK)
		goto done;

	rc = record_baseline(conn, ht, files, take, o, ti, rename_ours, &committing);
	if (rc == EXIT_OK)
		log_event(LOG_LEVEL_INFO, "baseline_done", NULL,
				  "baselined %d migration%s as applied without running them%s%s%s", n_take,
				  n_take == 1 ? "" : "s", ti >= 0 ? ", imported from " : "", ti >= 0 ? tools[ti].name : "",
				  n_skipped > 0 ? " (some verify files skipped: see the history's baseline column)" : "");

done:
	free(versions);
	free(tool_table);
	free(take);
	return rc == EXIT_OK ? rc : interrupted(rc, committing);
}
