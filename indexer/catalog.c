/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  What the database holds for the definitions: one catalog query.
 *
 * Every query here starts with a comment naming it ("indexer: catalog"),
 * so that a server log with log_statement shows which is which.
 *
 * indexer/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "exitcodes.h"
#include "index_sql.h"
#include "log.h"
#include "memory.h"
#include "query.h"

/*
 * Sizes from relpages, not pg_relation_size(): that one opens the relation
 * and so waits behind any ACCESS EXCLUSIVE lock.  The partitions of a
 * partitioned table are found through pg_inherits for the same reason
 * (pg_partition_tree() locks every partition).
 *
 * pg_get_indexdef() does lock: it opens the table (ACCESS SHARE) to name
 * the columns of expressions.  So the query bounds its own lock waits:
 * the InitPlan "lt" sets lock_timeout for the statement's own transaction
 * (set_config(..., true) = SET LOCAL), and every pg_get_indexdef() is
 * guarded by a CASE on it, which forces the InitPlan to run first.  One
 * statement, one round trip, no BEGIN.
 *
 * Leftovers ($4, $5: our _ixnew/_ixold names, which for a long name end
 * in a hash instead; REINDEX CONCURRENTLY's _ccnew/_ccold), read in one
 * pass over pg_class ("lo": every index named so), come as "name 2 valid 2 comment 2 constraints 2 indexdef" joined by 1;
 * the indexes of constraints on the table, when the name is free, as
 * "constraint 2 index 2 valid 2 indexdef" joined by 1.
 */
static const char *const catalog_sql =
	"/* indexer: catalog */ "
	"WITH lt AS MATERIALIZED (SELECT pg_catalog.set_config('lock_timeout', $6, true) AS lt), "
	"d AS ("
	"  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
	"         WITH ORDINALITY AS d(schema, tbl, name, tmp_new, tmp_old, ord)"
	"), "
	/* every index a leftover could be, in one pass (a scan of each table's indexes per definition cost 7 ms at 500) */
	"lo AS MATERIALIZED ("
	"  SELECT l.oid, l.relname, li.indrelid, li.indisvalid"
	"    FROM pg_catalog.pg_class l JOIN pg_catalog.pg_index li ON li.indexrelid = l.oid"
	"   WHERE l.relname::text ~ '_(ixnew|ixold|cc(new|old)[0-9]*)$'"
	"      OR l.relname::text = ANY ($4::text[]) OR l.relname::text = ANY ($5::text[])"
	") "
	"SELECT d.ord, n.oid IS NOT NULL, t.oid, t.relkind, "
	"  CASE WHEN t.relkind = 'p' THEN ("
	"         WITH RECURSIVE tree(relid) AS ("
	"           SELECT t.oid UNION ALL"
	"           SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.relid)"
	"         SELECT coalesce(sum(c.relpages::bigint), 0) FROM tree JOIN pg_catalog.pg_class c ON c.oid = tree.relid)"
	"       ELSE coalesce(t.relpages::bigint, 0) END "
	"       * pg_catalog.current_setting('block_size')::bigint, "
	"  r.oid, r.relkind, i.indexrelid IS NOT NULL, i.indrelid = t.oid, "
	"  CASE WHEN i.indexrelid IS NOT NULL AND i.indrelid IS DISTINCT FROM t.oid THEN pg_catalog.format('%I.%I', otn.nspname, ot.relname) END, "
	"  coalesce(i.indisvalid, false), coalesce(i.indisready, false), "
	"  CASE WHEN (SELECT lt FROM lt) IS NOT NULL AND i.indexrelid IS NOT NULL THEN pg_catalog.pg_get_indexdef(r.oid) END, "
	"  cons.names, "
	"  (SELECT p.pid FROM pg_catalog.pg_stat_progress_create_index p WHERE p.index_relid = r.oid LIMIT 1), "
	"  coalesce(r.relpages::bigint, 0) * pg_catalog.current_setting('block_size')::bigint, "
	"  (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(chr(2), l.relname::text, l.indisvalid::text,"
	"          coalesce((SELECT ds.description FROM pg_catalog.pg_description ds"
	"                     WHERE ds.objoid = l.oid AND ds.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass"
	"                       AND ds.objsubid = 0), ''),"
	"          coalesce((SELECT pg_catalog.string_agg(lc.conname::text, ', ' ORDER BY lc.conname)"
	"                      FROM pg_catalog.pg_constraint lc WHERE lc.conrelid = t.oid AND lc.conindid = l.oid), ''),"
	"          CASE WHEN (SELECT lt FROM lt) IS NOT NULL THEN pg_catalog.pg_get_indexdef(l.oid) END),"
	"          chr(1) ORDER BY l.relname)"
	"     FROM lo l"
	"    WHERE l.indrelid = t.oid AND l.relname <> d.name"
	"      AND (l.relname IN (d.tmp_new, d.tmp_old)"
	"           OR (left(l.relname, length(d.name)) = d.name"
	"               AND substr(l.relname, length(d.name) + 1) ~ '^_cc(new|old)[0-9]*$'))), "
	"  CASE WHEN r.oid IS NULL THEN"
	"  (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(chr(2), con.conname::text, ci.relname::text,"
	"          cii.indisvalid::text,"
	"          CASE WHEN (SELECT lt FROM lt) IS NOT NULL THEN pg_catalog.pg_get_indexdef(ci.oid) END),"
	"          chr(1) ORDER BY con.conname)"
	"     FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class ci ON ci.oid = con.conindid"
	"     JOIN pg_catalog.pg_index cii ON cii.indexrelid = ci.oid"
	"    WHERE con.conrelid = t.oid AND con.contype IN ('p', 'u', 'x')) END "
	"FROM d "
	"LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = d.schema "
	"LEFT JOIN pg_catalog.pg_class t ON t.relnamespace = n.oid AND t.relname = d.tbl "
	"LEFT JOIN pg_catalog.pg_class r ON r.relnamespace = n.oid AND r.relname = d.name "
	"LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = r.oid "
	"LEFT JOIN pg_catalog.pg_class ot ON ot.oid = i.indrelid "
	"LEFT JOIN pg_catalog.pg_namespace otn ON otn.oid = ot.relnamespace "
	/* one pass over pg_constraint (conindid has no index: a subquery per row scanned it 500 times) */
	"LEFT JOIN (SELECT con.conindid, pg_catalog.string_agg(con.conname::text, ', ' ORDER BY con.conname) AS names"
	"           FROM pg_catalog.pg_constraint con WHERE con.conindid <> 0 GROUP BY con.conindid) cons"
	"  ON cons.conindid = r.oid "
	"ORDER BY d.ord";

/* The sessions that hold (or queue for) ACCESS EXCLUSIVE on a table. */
static const char *const holders_sql =
	"/* indexer: lock holders */ "
	"SELECT l.pid, l.granted, coalesce(a.application_name, ''), coalesce(a.state, ''), "
	"       pg_catalog.left(pg_catalog.regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 200) "
	"FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
	"WHERE l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_catalog.pg_database"
	"       WHERE datname = pg_catalog.current_database())"
	"  AND l.relation = (SELECT c.oid FROM pg_catalog.pg_class c"
	"       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)"
	"  AND l.mode = 'AccessExclusiveLock' "
	"ORDER BY l.granted DESC, l.pid";

const char *const CATALOG_INDEX_STATE_SQL = "/* indexer: index state */ "
											"SELECT i.indisvalid, i.indisready, i.indrelid = $3::oid, "
											"       pg_catalog.pg_get_indexdef(c.oid) "
											"FROM pg_catalog.pg_class c "
											"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
											"JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid "
											"WHERE n.nspname = $1 AND c.relname = $2";

static const char *const index_states_sql =
	"/* indexer: index states */ "
	"SELECT d.ord, c.oid IS NOT NULL, coalesce(i.indisvalid, false), coalesce(i.indisready, false), "
	"       coalesce(i.indrelid = d.tbl::oid, false) "
	"FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS d(schema, name, tbl, ord) "
	"LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = d.schema "
	"LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = d.name "
	"LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid "
	"ORDER BY d.ord";

/*
 * The partitions below $1, and for each the index attached in the tree of
 * the index $2.$3 (itree: that index and every index attached below it).
 */
static const char *const partitions_sql =
	"/* indexer: partitions */ "
	"WITH RECURSIVE tree(relid, parent, level) AS ("
	"  SELECT $1::oid, 0::oid, 0 UNION ALL"
	"  SELECT i.inhrelid, i.inhparent, tree.level + 1"
	"    FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.relid), "
	"itree(indexrelid) AS ("
	"  SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	"   WHERE n.nspname = $2 AND c.relname = $3 UNION ALL"
	"  SELECT ih.inhrelid FROM pg_catalog.pg_inherits ih JOIN itree ON ih.inhparent = itree.indexrelid) "
	"SELECT tree.relid, tree.parent, tree.level, c.relkind, n.nspname, c.relname, ai.relname, aii.indisvalid "
	"FROM tree "
	"JOIN pg_catalog.pg_class c ON c.oid = tree.relid "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"LEFT JOIN (itree JOIN pg_catalog.pg_index aii ON aii.indexrelid = itree.indexrelid"
	"           JOIN pg_catalog.pg_class ai ON ai.oid = aii.indexrelid) ON aii.indrelid = tree.relid "
	"WHERE tree.level > 0 "
	"ORDER BY tree.level, c.relname";

/*
 * bounded like catalog_sql: pg_get_indexdef() and pg_get_expr() lock the
 * table.  The signature is the text itself, never the server's md5() of
 * it: FIPS-mode servers refuse md5() (issue 10).
 */
static const char *const indexes_sql =
	"/* indexer: indexes */ "
	"WITH lt AS MATERIALIZED (SELECT pg_catalog.set_config('lock_timeout', $3, true) AS lt) "
	"SELECT n.nspname, t.relname, c.relname, i.indisvalid, "
	"  (SELECT pg_catalog.string_agg(con.conname, ', ' ORDER BY con.conname) FROM pg_catalog.pg_constraint con"
	"    WHERE con.conindid = c.oid AND con.conrelid = t.oid), "
	"  CASE WHEN (SELECT lt FROM lt) IS NOT NULL THEN"
	"  pg_catalog.concat_ws('|', i.indkey::text, i.indclass::text, i.indcollation::text, i.indoption::text,"
	"     pg_catalog.pg_get_expr(i.indexprs, i.indrelid), pg_catalog.pg_get_expr(i.indpred, i.indrelid),"
	"     c.relam::text, i.indisunique::text, i.indnullsnotdistinct::text) END, "
	"  CASE WHEN (SELECT lt FROM lt) IS NOT NULL THEN pg_catalog.pg_get_indexdef(c.oid) END "
	"FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS d(schema, tbl) "
	"JOIN pg_catalog.pg_namespace n ON n.nspname = d.schema "
	"JOIN pg_catalog.pg_class t ON t.relnamespace = n.oid AND t.relname = d.tbl "
	"JOIN pg_catalog.pg_index i ON i.indrelid = t.oid "
	"JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
	"ORDER BY 1, 2, 3";

const char *
catalog_relkind_name(char relkind)
{
	switch (relkind)
	{
		case 'r':
			return "table";
		case 'p':
			return "partitioned table";
		case 'i':
			return "index";
		case 'I':
			return "partitioned index";
		case 'S':
			return "sequence";
		case 't':
			return "TOAST table";
		case 'v':
			return "view";
		case 'm':
			return "materialized view";
		case 'c':
			return "composite type";
		case 'f':
			return "foreign table";
		default:
			return "relation";
	}
}

char *
catalog_derived_name(const char *base, const char *suffix)
{
	char    *full = xasprintf("%s%s", base, suffix);
	uint32_t hash = 2166136261u;
	size_t   keep = INDEX_SQL_MAX_IDENT - 9;
	char    *cut;

	if (strlen(full) <= INDEX_SQL_MAX_IDENT)
		return full;
	/* FNV-1a over the full name: stable across runs and machines */
	for (const char *p = full; *p; p++)
		hash = (hash ^ (unsigned char) *p) * 16777619u;
	/* never split a UTF-8 character */
	while (keep > 0 && ((unsigned char) full[keep] & 0xc0) == 0x80)
		keep--;
	cut = xasprintf("%.*s_%08x", (int) keep, full, (unsigned) hash);
	free(full);
	return cut;
}

static char *
dup_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static bool
get_bool(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && strcmp(PQgetvalue(res, row, col), "t") == 0;
}

/* Split "a 2 b 2 c 1 a 2 b 2 c" into fields; returns the record count. */
static int
split_records(const char *text, int n_fields, char ***fields_out)
{
	char      **fields = NULL;
	int         n = 0;
	int         cap = 0;
	const char *p = text;

	while (*p)
	{
		const char *end = strchr(p, '\1');
		size_t      len = end ? (size_t) (end - p) : strlen(p);
		const char *f = p;

		/* a record is n_fields slots: room for one more record */
		ARRAY_GROW(fields, (n + 1) * n_fields, cap);
		for (int k = 0; k < n_fields; k++)
		{
			const char *sep = k < n_fields - 1 ? memchr(f, '\2', len - (size_t) (f - p)) : NULL;
			size_t      flen = sep ? (size_t) (sep - f) : len - (size_t) (f - p);

			fields[n * n_fields + k] = xstrndup(f, flen);
			f = sep ? sep + 1 : p + len;
		}
		n++;
		p = end ? end + 1 : p + len;
	}
	*fields_out = fields;
	return n;
}

static void
parse_leftovers(const char *text, catalog_entry *e)
{
	char **f;
	int    n = split_records(text, 5, &f);

	e->leftovers = xcalloc((size_t) (n + 1), sizeof(catalog_leftover));
	for (int i = 0; i < n; i++)
	{
		catalog_leftover *l = &e->leftovers[i];

		l->name = f[i * 5];
		l->valid = strcmp(f[i * 5 + 1], "true") == 0;
		free(f[i * 5 + 1]);
		l->comment = f[i * 5 + 2];
		l->constraints = f[i * 5 + 3];
		l->indexdef = f[i * 5 + 4];
	}
	e->n_leftovers = n;
	free(f);
}

static void
parse_con_indexes(const char *text, catalog_entry *e)
{
	char **f;
	int    n = split_records(text, 4, &f);

	e->con_indexes = xcalloc((size_t) (n + 1), sizeof(catalog_constraint_index));
	for (int i = 0; i < n; i++)
	{
		catalog_constraint_index *c = &e->con_indexes[i];

		c->constraint = f[i * 4];
		c->index = f[i * 4 + 1];
		c->valid = strcmp(f[i * 4 + 2], "true") == 0;
		free(f[i * 4 + 2]);
		c->indexdef = f[i * 4 + 3];
	}
	e->n_con_indexes = n;
	free(f);
}

static void
fill_entry(const PGresult *res, int row, catalog_entry *e)
{
	e->schema_exists = get_bool(res, row, 1);
	e->table_oid = dup_or_null(res, row, 2);
	e->table_kind = PQgetisnull(res, row, 3) ? 0 : PQgetvalue(res, row, 3)[0];
	e->table_bytes = PQgetisnull(res, row, 4) ? 0 : strtoll(PQgetvalue(res, row, 4), NULL, 10);
	e->rel_oid = dup_or_null(res, row, 5);
	e->rel_kind = PQgetisnull(res, row, 6) ? 0 : PQgetvalue(res, row, 6)[0];
	e->is_index = get_bool(res, row, 7);
	e->on_table = get_bool(res, row, 8);
	e->other_table = e->is_index ? dup_or_null(res, row, 9) : NULL;
	e->valid = get_bool(res, row, 10);
	e->ready = get_bool(res, row, 11);
	e->indexdef = dup_or_null(res, row, 12);
	e->constraints = dup_or_null(res, row, 13);
	e->build_pid = PQgetisnull(res, row, 14) ? 0 : atoi(PQgetvalue(res, row, 14));
	e->index_bytes = strtoll(PQgetvalue(res, row, 15), NULL, 10);
	if (!PQgetisnull(res, row, 16))
		parse_leftovers(PQgetvalue(res, row, 16), e);
	if (!PQgetisnull(res, row, 17))
		parse_con_indexes(PQgetvalue(res, row, 17), e);
}

/* The catalog query for the definitions idx[0..n-1] of defs. */
static bool
run_catalog(PGconn *conn, index_def *const *defs, const int *idx, int n, const char *timeout,
			catalog_entry *entries, db_error *err)
{
	const char **cols[5];
	char        *values[6];
	PGresult    *res = NULL;
	bool         ok;

	for (int c = 0; c < 5; c++)
		cols[c] = xcalloc((size_t) (n + 1), sizeof(char *));
	for (int i = 0; i < n; i++)
	{
		const index_def *d = defs[idx[i]];

		cols[0][i] = d->schema;
		cols[1][i] = d->table;
		cols[2][i] = d->name;
		cols[3][i] = catalog_derived_name(d->name, "_ixnew");
		cols[4][i] = catalog_derived_name(d->name, "_ixold");
	}
	for (int c = 0; c < 5; c++)
		values[c] = db_text_array_literal(cols[c], n);
	values[5] = (char *) timeout;
	ok = db_run(conn, catalog_sql, 6, (const char *const *) values, PGRES_TUPLES_OK, &res, err, NULL);
	for (int row = 0; ok && row < PQntuples(res) && row < n; row++)
		fill_entry(res, row, &entries[idx[row]]);
	PQclear(res);
	for (int i = 0; i < n; i++)
	{
		free((char *) cols[3][i]);
		free((char *) cols[4][i]);
	}
	for (int c = 0; c < 5; c++)
	{
		free(cols[c]);
		free(values[c]);
	}
	return ok;
}

/*
 * Who holds (or queues for) ACCESS EXCLUSIVE on d's table, as one line
 * ("pid 123 (application \"psql\", idle in transaction: LOCK t) holds
 * ACCESS EXCLUSIVE"), or NULL when nobody does (or the query failed).
 */
static char *
locked_by(PGconn *conn, const index_def *d, int *round_trips)
{
	const char *values[2] = {d->schema, d->table};
	PGresult   *res = NULL;
	db_error    err = {0};
	textbuf     sb;

	(*round_trips)++;
	if (!db_run(conn, holders_sql, 2, values, PGRES_TUPLES_OK, &res, &err, NULL))
	{
		db_error_clear(&err);
		return NULL;
	}
	textbuf_init(&sb);
	for (int row = 0; row < PQntuples(res); row++)
		textbuf_appendf(&sb, "%spid %s (application \"%s\", %s: %s) %s ACCESS EXCLUSIVE", row ? "; " : "",
						PQgetvalue(res, row, 0), PQgetvalue(res, row, 2), PQgetvalue(res, row, 3),
						PQgetvalue(res, row, 4), get_bool(res, row, 1) ? "holds" : "waits for");
	PQclear(res);
	if (sb.len == 0)
	{
		textbuf_free(&sb);
		return NULL;
	}
	return textbuf_detach(&sb);
}

/*
 * After a lock timeout: the tables of idx[] (indexes into defs[0..n_all-1]
 * and entries) that someone holds or queues for in ACCESS EXCLUSIVE mode are warned about and their definitions
 * marked unknown; the others stay in idx, whose new length is returned.
 */
static int
set_aside_locked(PGconn *conn, index_def *const *defs, int n_all, int *idx, int n, catalog_entry *entries,
				 int *round_trips)
{
	int kept = 0;

	for (int i = 0; i < n; i++)
	{
		const index_def *d = defs[idx[i]];
		char            *why = NULL;
		bool             seen = false;

		/* a table already found locked for another definition */
		for (int k = 0; k < n_all && !seen; k++)
		{
			if (entries[k].unknown && strcmp(defs[k]->schema, d->schema) == 0 &&
				strcmp(defs[k]->table, d->table) == 0)
			{
				why = xstrdup(entries[k].unknown_why);
				seen = true;
			}
		}
		if (!seen)
			why = locked_by(conn, d, round_trips);
		if (why == NULL)
		{
			idx[kept++] = idx[i];
			continue;
		}
		entries[idx[i]].unknown = true;
		entries[idx[i]].unknown_why = why;
		if (!seen)
			log_event(
				LOG_LEVEL_WARNING, "table_locked", NULL,
				"could not read the definitions on \"%s.%s\" within --lock-timeout: %s; their state is unknown",
				d->schema, d->table, why);
	}
	return kept;
}

/*
 * Another role's build shows no relation in pg_stat_progress_create_index
 * to a role without pg_read_all_stats, so its index, invalid while it is
 * built, looks like a leftover to repair: its ShareUpdateExclusive lock on
 * the table (pg_locks hides nothing) marks that table's invalid indexes
 * busy.  Asked only when an invalid index has no builder in sight, so the
 * no-op run keeps its one catalog query.  EXIT_OK or EXIT_UNREACHABLE
 * (logged): a run that cannot tell must not drop anything.
 */
static const char hidden_builders_sql[] =
	"/* indexer: hidden builds */ "
	"SELECT pl.relation::pg_catalog.text, p.pid FROM pg_catalog.pg_stat_progress_create_index p "
	"JOIN pg_catalog.pg_locks pl ON pl.pid = p.pid "
	"WHERE p.relid IS NULL AND p.datid = (SELECT db.oid FROM pg_catalog.pg_database db "
	"                                     WHERE db.datname = pg_catalog.current_database()) "
	"  AND pl.locktype = 'relation' AND pl.granted AND pl.mode = 'ShareUpdateExclusiveLock' "
	"  AND pl.relation = ANY ($1::pg_catalog.oid[])";

static bool
needs_builder(const catalog_entry *c)
{
	return !c->unknown && c->is_index && !c->valid && c->build_pid == 0 && c->table_oid != NULL;
}

static int
find_hidden_builders(PGconn *conn, catalog_entry *entries, int n, int *round_trips)
{
	const char **oids = xcalloc((size_t) (n + 1), sizeof(char *));
	int          k = 0;
	char        *values[1];
	PGresult    *res = NULL;
	db_error     err = {0};
	bool         ok = true;

	for (int i = 0; i < n; i++)
		if (needs_builder(&entries[i]))
			oids[k++] = entries[i].table_oid;
	if (k > 0)
	{
		(*round_trips)++;
		values[0] = db_text_array_literal(oids, k);
		ok = db_run(conn, hidden_builders_sql, 1, (const char *const *) values, PGRES_TUPLES_OK, &res, &err,
					NULL);
		for (int row = 0; ok && row < PQntuples(res); row++)
			for (int i = 0; i < n; i++)
				if (needs_builder(&entries[i]) && strcmp(entries[i].table_oid, PQgetvalue(res, row, 0)) == 0)
					entries[i].build_pid = atoi(PQgetvalue(res, row, 1));
		free(values[0]);
	}
	free(oids);
	PQclear(res);
	if (!ok)
	{
		char *msg = db_error_format(&err);

		log_event(LOG_LEVEL_ERROR, "catalog_failed", NULL, "could not look for other roles' builds: %s", msg);
		free(msg);
		db_error_clear(&err);
		return cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
	}
	return EXIT_OK;
}

int
catalog_load(PGconn *conn, index_def *const *defs, int n, int64_t lock_timeout_ms, catalog_entry **out,
			 int *round_trips)
{
	catalog_entry *entries = xcalloc((size_t) (n + 1), sizeof(catalog_entry));
	int           *idx = xcalloc((size_t) (n + 1), sizeof(int));
	int            remaining = n;
	char           timeout[32];
	bool           blind_retry = false;
	int            rc = EXIT_OK;

	snprintf(timeout, sizeof(timeout), "%lldms", (long long) (lock_timeout_ms > 0 ? lock_timeout_ms : 0));
	for (int i = 0; i < n; i++)
		idx[i] = i;
	/* each pass succeeds or sets at least one table aside (but one) */
	for (int pass = 0; pass <= n + 1; pass++)
	{
		db_error err = {0};
		int      kept;

		(*round_trips)++;
		if (run_catalog(conn, defs, idx, remaining, timeout, entries, &err))
			break;
		if (cancel_pending())
			rc = cancel_exit_code();
		else if (err.cls == PGERR_LOCK_TIMEOUT &&
				 ((kept = set_aside_locked(conn, defs, n, idx, remaining, entries, round_trips)) <
					  remaining ||
				  !blind_retry))
		{
			/* nobody holds it any more: the lock went in between, try once more */
			blind_retry = blind_retry || kept == remaining;
			remaining = kept;
			db_error_clear(&err);
			if (remaining == 0)
				break;
			continue;
		}
		else
		{
			char *msg = db_error_format(&err);

			log_event(LOG_LEVEL_ERROR, "catalog_failed", NULL, "could not read the catalog: %s", msg);
			free(msg);
			rc = EXIT_UNREACHABLE;
		}
		db_error_clear(&err);
		break;
	}
	free(idx);
	if (rc == EXIT_OK)
		rc = find_hidden_builders(conn, entries, n, round_trips);
	if (rc != EXIT_OK)
	{
		catalog_free(entries, n);
		entries = NULL;
	}
	*out = entries;
	return rc;
}

void
catalog_free(catalog_entry *entries, int n)
{
	if (entries == NULL)
		return;
	for (int i = 0; i < n; i++)
	{
		catalog_entry *e = &entries[i];

		free(e->table_oid);
		free(e->rel_oid);
		free(e->other_table);
		free(e->indexdef);
		free(e->constraints);
		for (int k = 0; k < e->n_leftovers; k++)
		{
			free(e->leftovers[k].name);
			free(e->leftovers[k].comment);
			free(e->leftovers[k].constraints);
			free(e->leftovers[k].indexdef);
		}
		free(e->leftovers);
		for (int k = 0; k < e->n_con_indexes; k++)
		{
			free(e->con_indexes[k].constraint);
			free(e->con_indexes[k].index);
			free(e->con_indexes[k].indexdef);
		}
		free(e->con_indexes);
		free(e->unknown_why);
	}
	free(entries);
}

void
catalog_index_state_from(const PGresult *res, catalog_index_state *st)
{
	memset(st, 0, sizeof(*st));
	if (PQntuples(res) == 0)
		return;
	st->exists = true;
	st->valid = get_bool(res, 0, 0);
	st->ready = get_bool(res, 0, 1);
	st->on_table = get_bool(res, 0, 2);
	st->indexdef = PQnfields(res) > 3 && !PQgetisnull(res, 0, 3) ? PQgetvalue(res, 0, 3) : NULL;
}

bool
catalog_index_states(PGconn *conn, const char *const *schemas, const char *const *names,
					 const char *const *table_oids, int n, catalog_index_state *states, db_error *err)
{
	char     *values[3];
	PGresult *res = NULL;
	bool      ok;

	values[0] = db_text_array_literal(schemas, n);
	values[1] = db_text_array_literal(names, n);
	values[2] = db_text_array_literal(table_oids, n);
	ok = db_run(conn, index_states_sql, 3, (const char *const *) values, PGRES_TUPLES_OK, &res, err, NULL);
	if (ok)
	{
		for (int row = 0; row < PQntuples(res) && row < n; row++)
		{
			states[row].exists = get_bool(res, row, 1);
			states[row].valid = get_bool(res, row, 2);
			states[row].ready = get_bool(res, row, 3);
			states[row].on_table = get_bool(res, row, 4);
			states[row].indexdef = NULL; /* not read here */
		}
	}
	PQclear(res);
	for (int i = 0; i < 3; i++)
		free(values[i]);
	return ok;
}

int
catalog_partitions(PGconn *conn, const char *table_oid, const char *schema, const char *index_name,
				   catalog_partition **out, db_error *err)
{
	const char *values[3] = {table_oid, schema, index_name};
	PGresult   *res;
	int         n;

	*out = NULL;
	if (!db_run(conn, partitions_sql, 3, values, PGRES_TUPLES_OK, &res, err, NULL))
		return -1;
	n = PQntuples(res);
	*out = xcalloc((size_t) (n + 1), sizeof(catalog_partition));
	for (int row = 0; row < n; row++)
	{
		catalog_partition *p = &(*out)[row];

		p->oid = xstrdup(PQgetvalue(res, row, 0));
		p->parent_oid = xstrdup(PQgetvalue(res, row, 1));
		p->level = atoi(PQgetvalue(res, row, 2));
		p->kind = PQgetvalue(res, row, 3)[0];
		p->schema = xstrdup(PQgetvalue(res, row, 4));
		p->name = xstrdup(PQgetvalue(res, row, 5));
		p->attached_index = dup_or_null(res, row, 6);
		p->attached_valid = get_bool(res, row, 7);
	}
	PQclear(res);
	return n;
}

void
catalog_partitions_free(catalog_partition *parts, int n)
{
	if (parts == NULL)
		return;
	for (int i = 0; i < n; i++)
	{
		free(parts[i].oid);
		free(parts[i].parent_oid);
		free(parts[i].schema);
		free(parts[i].name);
		free(parts[i].attached_index);
	}
	free(parts);
}

int
catalog_indexes(PGconn *conn, const char *const *schemas, const char *const *tables, int n,
				int64_t lock_timeout_ms, catalog_index **out)
{
	char      timeout[32];
	char     *values[3];
	PGresult *res;
	int       count;

	*out = NULL;
	values[0] = db_text_array_literal(schemas, n);
	values[1] = db_text_array_literal(tables, n);
	snprintf(timeout, sizeof(timeout), "%lldms", (long long) (lock_timeout_ms > 0 ? lock_timeout_ms : 0));
	values[2] = timeout;
	res = db_query(conn, "listing the indexes of the covered tables", indexes_sql, 3,
				   (const char *const *) values, PGRES_TUPLES_OK);
	free(values[0]);
	free(values[1]);
	if (res == NULL)
		return -1;
	count = PQntuples(res);
	*out = xcalloc((size_t) (count + 1), sizeof(catalog_index));
	for (int row = 0; row < count; row++)
	{
		catalog_index *c = &(*out)[row];

		c->schema = xstrdup(PQgetvalue(res, row, 0));
		c->table = xstrdup(PQgetvalue(res, row, 1));
		c->name = xstrdup(PQgetvalue(res, row, 2));
		c->valid = get_bool(res, row, 3);
		c->constraints = dup_or_null(res, row, 4);
		c->signature = xstrdup(PQgetvalue(res, row, 5));
		c->indexdef = xstrdup(PQgetvalue(res, row, 6));
	}
	PQclear(res);
	return count;
}

void
catalog_indexes_free(catalog_index *idx, int n)
{
	if (idx == NULL)
		return;
	for (int i = 0; i < n; i++)
	{
		free(idx[i].schema);
		free(idx[i].table);
		free(idx[i].name);
		free(idx[i].constraints);
		free(idx[i].signature);
		free(idx[i].indexdef);
	}
	free(idx);
}
