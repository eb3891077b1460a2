/*-------------------------------------------------------------------------
 *
 * size_estimate.c
 *	  How big an index will be, from pg_class and pg_stats (see the header).
 *
 * indexer/size_estimate.c
 *
 *-------------------------------------------------------------------------
 */
#include "size_estimate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "exitcodes.h"
#include "index_sql.h"
#include "memory.h"
#include "query.h"

#define MAX_COLUMNS 32 /* INDEX_MAX_KEYS */
#define MAXALIGN(x) (((x) + 7) & ~(int64_t) 7)

/*
 * Per definition i (1-based, in the order of $1/$2): the row count, the
 * indexed columns that have no statistics, and the sum of the widths of
 * those that do.  Catalogs and statistics views only: no lock on a table.
 */
static const char *const ESTIMATE_SQL =
	"WITH u AS ("
	" SELECT u.i::int AS i, u.s, u.r, c.oid, c.relkind, c.reltuples"
	" FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(s, r, i)"
	" LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = u.s"
	" LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = u.r)"
	" SELECT u.i,"
	" (CASE WHEN u.relkind = 'p' THEN"
	"  (SELECT CASE WHEN count(*) = 0 THEN 0 WHEN bool_or(pc.reltuples < 0) THEN -1 ELSE sum(pc.reltuples) END"
	"   FROM pg_catalog.pg_partition_tree(u.oid) pt JOIN pg_catalog.pg_class pc ON pc.oid = pt.relid"
	"   WHERE pt.isleaf)"
	"  ELSE u.reltuples END)::float8,"
	" (SELECT string_agg(k.col, ', ') FROM unnest($3::int[], $4::text[]) AS k(i, col)"
	"  WHERE k.i = u.i AND NOT EXISTS (SELECT FROM pg_catalog.pg_stats s WHERE s.schemaname = u.s"
	"   AND s.tablename = u.r AND s.attname = k.col AND s.inherited = (u.relkind = 'p')"
	"   AND s.avg_width IS NOT NULL)),"
	" (SELECT sum(s.avg_width) FROM unnest($3::int[], $4::text[]) AS k(i, col)"
	"  JOIN pg_catalog.pg_stats s ON s.schemaname = u.s AND s.tablename = u.r AND s.attname = k.col"
	"   AND s.inherited = (u.relkind = 'p') WHERE k.i = u.i)::bigint,"
	" pg_catalog.current_setting('block_size')::int"
	" FROM u ORDER BY u.i";

int64_t
size_estimate_btree(double reltuples, int64_t width, int block_size)
{
	int64_t tuple = MAXALIGN(8 + width) + 4;
	int64_t per_page = (int64_t) floor((block_size - 24 - 16) * 0.90 / (double) tuple);
	int64_t level, pages = 1;

	if (per_page < 2)
		per_page = 2;
	level = (int64_t) ceil(reltuples / (double) per_page);
	if (level < 1 && reltuples > 0)
		level = 1;
	/* the leaves, then each level above them, up to a single root */
	while (level > 0)
	{
		pages += level;
		if (level == 1)
			break;
		level = (level + per_page - 1) / per_page;
	}
	return pages * block_size;
}

/* The items to estimate, and why one cannot be, before any query. */
static bool
wants_estimate(plan_item *it)
{
	const index_sql_info *in;

	it->estimated = false;
	it->est_bytes = -1;
	it->est_why[0] = '\0';
	if (it->action != ACT_BUILD && it->action != ACT_REPAIR && it->action != ACT_REBUILD)
		return false;
	it->estimated = true;
	if (it->def->parsed == NULL)
		return false;
	in = index_sql_get_info(it->def->parsed);
	if (strcmp(in->access_method, "btree") != 0)
	{
		snprintf(it->est_why, sizeof(it->est_why), "no estimate for %s indexes", in->access_method);
		return false;
	}
	if (in->has_expressions)
	{
		snprintf(it->est_why, sizeof(it->est_why), "an expression has no statistics");
		return false;
	}
	return true;
}

/* One row of ESTIMATE_SQL into item it. */
static void
read_estimate(plan_item *it, const PGresult *res, int row)
{
	double  tuples = PQgetisnull(res, row, 1) ? -1 : atof(PQgetvalue(res, row, 1));
	int64_t width = PQgetisnull(res, row, 3) ? 0 : atoll(PQgetvalue(res, row, 3));
	int     block = atoi(PQgetvalue(res, row, 4));

	if (tuples < 0)
		snprintf(it->est_why, sizeof(it->est_why), "the table has not been analyzed (reltuples = -1)");
	else if (!PQgetisnull(res, row, 2))
		snprintf(it->est_why, sizeof(it->est_why), "no statistics for column%s %s (run ANALYZE)",
				 strchr(PQgetvalue(res, row, 2), ',') ? "s" : "", PQgetvalue(res, row, 2));
	else
	{
		it->est_bytes = size_estimate_btree(tuples, width, block > 0 ? block : 8192);
		if (index_sql_get_info(it->def->parsed)->has_predicate)
			snprintf(it->est_why, sizeof(it->est_why), "upper bound: a partial index counted on every row");
	}
}

int
size_estimate_plan(PGconn *conn, plan_item *items, int n, int *round_trips)
{
	const char **schemas = xcalloc((size_t) n + 1, sizeof(char *));
	const char **tables = xcalloc((size_t) n + 1, sizeof(char *));
	int         *which = xcalloc((size_t) n + 1, sizeof(int));
	const char **col_item = NULL, **col_name = NULL;
	char       **numbers = NULL;
	int          m = 0, nc = 0, cap1 = 0, cap2 = 0, cap3 = 0;
	int          rc = EXIT_OK;

	for (int i = 0; i < n; i++)
	{
		const char *cols[MAX_COLUMNS];
		int         k;

		if (!wants_estimate(&items[i]))
			continue;
		k = index_sql_columns(items[i].def->parsed, cols, MAX_COLUMNS);
		schemas[m] = items[i].def->schema;
		tables[m] = items[i].def->table;
		which[m++] = i;
		for (int c = 0; c < k && c < MAX_COLUMNS; c++)
		{
			ARRAY_GROW(col_item, nc + 1, cap1);
			ARRAY_GROW(col_name, nc + 1, cap2);
			ARRAY_GROW(numbers, nc + 1, cap3);
			numbers[nc] = xasprintf("%d", m);
			col_item[nc] = numbers[nc];
			col_name[nc++] = cols[c];
		}
	}
	if (m > 0)
	{
		char     *values[4] = {db_text_array_literal(schemas, m), db_text_array_literal(tables, m),
							   db_text_array_literal(col_item, nc), db_text_array_literal(col_name, nc)};
		PGresult *res = db_query(conn, "estimating the size of the indexes to build", ESTIMATE_SQL, 4,
								 (const char *const *) values, PGRES_TUPLES_OK);

		(*round_trips)++;
		if (res == NULL)
			rc = cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
		for (int r = 0; res != NULL && r < PQntuples(res) && r < m; r++)
			read_estimate(&items[which[r]], res, r);
		PQclear(res);
		for (int v = 0; v < 4; v++)
			free(values[v]);
	}
	for (int c = 0; c < nc; c++)
		free(numbers[c]);
	free(numbers);
	free(col_item);
	free(col_name);
	free(schemas);
	free(tables);
	free(which);
	return rc;
}

void
size_estimate_format(int64_t bytes, char *buf, size_t buflen)
{
	static const char *const units[] = {"bytes", "kB", "MB", "GB", "TB"};
	double                   v = (double) bytes;
	int                      u = 0;

	if (bytes < 0)
	{
		snprintf(buf, buflen, "unknown");
		return;
	}
	while (v >= 1024 && u < 4)
		v /= 1024, u++;
	if (u == 0)
		snprintf(buf, buflen, "%lld bytes", (long long) bytes);
	else
		snprintf(buf, buflen, "%.1f %s", v, units[u]);
}
