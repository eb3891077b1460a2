/*-------------------------------------------------------------------------
 *
 * relation_trust.c
 *	  Refuse a table that another role could have armed.
 *
 * common/relation_trust.c
 *
 *-------------------------------------------------------------------------
 */
#include "relation_trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "pipeline.h"
#include "query.h"
#include "sqlquote.h"

/*
 * PostgreSQL's FirstNormalObjectId: every type below it comes with the
 * server and belongs to the bootstrap superuser, so no other role can add
 * a cast to or from it (CREATE CAST wants one of the two types) or give
 * it functions of its own.
 */
#define FIRST_NORMAL_OID "16384"

/* Every column is read from the catalogs with pg_catalog's own operators. */
static const char trust_sql[] =
	"SELECT c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) "
	"       OR ($3 AND (c.relowner = n.nspowner "
	"           OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = c.relowner) "
	/* a superuser is a member of every role: only real membership counts */
	"           OR (NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) "
	"               AND pg_catalog.pg_has_role(c.relowner, 'MEMBER')))), "
	"       pg_catalog.pg_get_userbyid(c.relowner), CURRENT_USER, "
	"       (SELECT pg_catalog.string_agg(t.tgname::pg_catalog.text, ', ') FROM pg_catalog.pg_trigger t "
	"         WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), "
	"       (SELECT pg_catalog.string_agg(w.rulename::pg_catalog.text, ', ') FROM pg_catalog.pg_rewrite w "
	"         WHERE w.ev_class = c.oid AND w.rulename <> '_RETURN'::pg_catalog.name), "
	"       c.relrowsecurity OR c.relforcerowsecurity "
	"         OR EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid), "
	"       EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid OR i.inhrelid = c.oid), "
	"       (SELECT pg_catalog.string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
	"               ELSE pg_catalog.pg_get_userbyid(a.grantee)::pg_catalog.text END, ', ') "
	"          FROM pg_catalog.aclexplode(c.relacl) a "
	"         WHERE a.privilege_type = 'TRIGGER' AND a.grantee <> c.relowner), "
	"       c.relkind, "
	"       (SELECT pg_catalog.string_agg(x.name, ', ') FROM ("
	"          SELECT i.relname::pg_catalog.text FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i "
	"            ON i.oid = x.indexrelid WHERE x.indrelid = c.oid "
	"            AND (x.indexprs IS NOT NULL OR x.indpred IS NOT NULL) "
	"          UNION ALL SELECT e.stxname::pg_catalog.text FROM pg_catalog.pg_statistic_ext e "
	"            WHERE e.stxrelid = c.oid AND 'e' = ANY (e.stxkind)) AS x (name)), "
	"       (SELECT pg_catalog.string_agg(pg_catalog.format('%s %s', a.attname, "
	"               pg_catalog.format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum) "
	"          FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
	"           AND NOT a.attisdropped AND a.atttypid >= " FIRST_NORMAL_OID "), "
	"       c.oid "
	"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND c.relname = $2::pg_catalog.name";

/*
 * The first look: pg_class's own flags for what trust_sql reads from the
 * other catalogs, so that a new session does not plan those reads (about
 * three quarters of trust_sql's server time) when nothing is there.  Each
 * term is a sufficient condition of trust_sql's verdict, never more:
 * relhastriggers and relhasrules are set when a trigger or rule is created
 * and cleared only by VACUUM once none is left; a NULL relacl is the
 * owner's default privileges, so no other role holds TRIGGER; the owner is
 * the current role, or for a reader the schema's owner.  Policies and
 * inheritance have no flag that proves their absence (policies may exist
 * with row-level security off; an inheritance child is not flagged), nor
 * have indexes and statistics that compute, so they are read as trust_sql
 * reads them.  Anything else (a flag left set by
 * a dropped trigger, any grant, another owner) goes to trust_sql, which
 * decides.  Same parameters as trust_sql.
 */
static const char first_look_sql[] =
	"SELECT c.relkind = 'r' "
	"   AND (pg_catalog.pg_get_userbyid(c.relowner) = CURRENT_USER OR ($3 AND c.relowner = n.nspowner)) "
	"   AND NOT c.relhastriggers AND NOT c.relhasrules AND c.relacl IS NULL "
	"   AND NOT c.relrowsecurity AND NOT c.relforcerowsecurity "
	"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) "
	"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid OR i.inhrelid = c.oid) "
	"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_index x WHERE x.indrelid = c.oid "
	"                   AND (x.indexprs IS NOT NULL OR x.indpred IS NOT NULL)) "
	"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_statistic_ext e WHERE e.stxrelid = c.oid "
	"                   AND 'e' = ANY (e.stxkind)) "
	"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
	"                   AND NOT a.attisdropped AND a.atttypid >= " FIRST_NORMAL_OID "), "
	"       c.oid "
	"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND c.relname = $2::pg_catalog.name";

/*
 * relation_trust_guard_sql's.  First: the name the write will use still
 * stands for the relation the run trusted (a schema's owner may rename
 * schemas at any time, and the LOCK TABLE before the guard locked what the
 * name stood for then), and pg_class's own flags of that relation, for
 * what the write lock keeps out and another role could have added since
 * the verdict: a trigger, a rule, row-level
 * security, a child table, a TRIGGER grant, another owner (one index
 * lookup, where the full check reads nine catalogs and cost a third of a
 * millisecond per migration).  What only the table's owner or a superuser
 * can change besides (its columns' types, its indexes and statistics,
 * policies while row-level security is off, its own parents) was judged at
 * start-up.  A flag left set (a trigger dropped again, any TRIGGER grant)
 * goes to the full check, trust_sql, which decides.  Each EXISTS is an
 * initplan, run only when the CASE reaches it.  The error is a cast of the
 * message to int4 in the ELSE branch: concat() is stable, so the planner
 * cannot evaluate it early, and the statement fails only when the verdict
 * does.  It reads only the catalogs: the relation itself is locked by the
 * LOCK TABLE before it (relation_trust_lock_sql), never named in a query
 * that is planned, since planning a query over a view evaluates the
 * view's IMMUTABLE-declared functions (constant folding), even under WHERE
 * false.  $5 is the relation's OID.
 */
static const char guard_head[] =
	"SELECT CASE %s WHEN EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = $5::pg_catalog.oid "
	"    AND c.relname = $2::pg_catalog.name AND c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n "
	"         WHERE n.nspname = $1::pg_catalog.name) "
	"    AND c.relkind = 'r' AND pg_catalog.pg_get_userbyid(c.relowner) = CURRENT_USER "
	"    AND NOT c.relhastriggers AND NOT c.relhasrules AND NOT c.relrowsecurity "
	"    AND NOT c.relforcerowsecurity AND NOT c.relhassubclass "
	"    AND (c.relacl IS NULL OR NOT EXISTS (SELECT FROM pg_catalog.aclexplode(c.relacl) a "
	"         WHERE a.privilege_type = 'TRIGGER' AND a.grantee <> c.relowner))) THEN 1 "
	"  WHEN EXISTS (SELECT FROM (";
static const char guard_tail[] =
	") AS v (owner_ok, owner_name, me, triggers, rules, rls, inherits, trigger_grantees, relkind, computed, "
	"        foreign_types, relid) "
	"  WHERE v.owner_ok AND v.triggers IS NULL AND v.rules IS NULL AND NOT v.rls AND NOT v.inherits "
	"    AND v.trigger_grantees IS NULL AND v.relkind = 'r' AND v.computed IS NULL "
	"    AND v.foreign_types IS NULL AND v.relid = $5::pg_catalog.oid) "
	"  THEN 1 ELSE pg_catalog.concat($4::pg_catalog.text)::pg_catalog.int4 END";

/*
 * The guard's first branch when the writes go through a view
 * (relation_trust_view_make): it fails unless the session's view is still
 * the one made and checked then ($6 its OID, $7 its _RETURN rule's row
 * version: CREATE OR REPLACE writes a new one, DROP and CREATE a new OID),
 * with no trigger and no other rule.  Index lookups by OID: the check of
 * what the view reads, a join over pg_depend that cost 4 ms to plan, is
 * made once, when the view is made.
 */
static const char guard_view[] =
	"WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_class v JOIN pg_catalog.pg_rewrite r ON r.ev_class = v.oid "
	"      WHERE v.oid = $6::pg_catalog.oid AND v.relnamespace = pg_catalog.pg_my_temp_schema() "
	"        AND v.relkind = 'v' AND NOT v.relhastriggers AND r.rulename = '_RETURN'::pg_catalog.name "
	"        AND r.xmin OPERATOR(pg_catalog.=) $7::pg_catalog.xid) "
	"  OR EXISTS (SELECT FROM pg_catalog.pg_rewrite o WHERE o.ev_class = $6::pg_catalog.oid "
	"        AND o.rulename <> '_RETURN'::pg_catalog.name) "
	"  THEN pg_catalog.concat($4::pg_catalog.text)::pg_catalog.int4";

/*
 * The guard's text with its seven values written in as literals: a
 * statement without parameters has one generic plan, made once per
 * session, where parameters had the server plan the catalog joins again
 * (5 to 7 ms) for each of a run's first five migrations.
 */
char *
relation_trust_guard_sql(PGconn *conn, const char *schema, const char *rel, unsigned int oid,
						 const relation_view *view, const char *message)
{
	char oid_text[16], view_text[16];
	/* $3, read_only, is false: the writers' verdict */
	const char *values[7] = {schema, rel, NULL, message, oid_text, view_text, view ? view->rule_xmin : NULL};
	char       *literal[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
	char       *head = xasprintf(guard_head, view != NULL ? guard_view : "");
	char       *tmpl = xasprintf("%s%s%s", head, trust_sql, guard_tail);
	textbuf     sql;
	bool        ok = true;

	snprintf(oid_text, sizeof(oid_text), "%u", oid);
	snprintf(view_text, sizeof(view_text), "%u", view ? view->oid : 0);
	for (int i = 0; i < 7 && ok; i++)
		ok = values[i] == NULL || (literal[i] = PQescapeLiteral(conn, values[i], strlen(values[i]))) != NULL;
	textbuf_init(&sql);
	for (const char *c = tmpl; ok && *c; c++)
	{
		if (c[0] != '$' || c[1] < '1' || c[1] > '7')
			textbuf_append_char(&sql, *c);
		else
		{
			c++;
			textbuf_append(&sql, literal[*c - '1'] ? literal[*c - '1'] : "false");
		}
	}
	for (int i = 0; i < 7; i++)
		PQfreemem(literal[i]);
	free(tmpl);
	free(head);
	if (ok)
		return sql.data;
	textbuf_free(&sql);
	return NULL;
}

char *
relation_trust_lock_sql(const char *qualified)
{
	return xasprintf("LOCK TABLE %s IN ROW EXCLUSIVE MODE", qualified);
}

static const char renamers_sql[] =
	"SELECT pg_catalog.string_agg(r.rolname::pg_catalog.text, ', ' ORDER BY r.rolname) "
	"FROM pg_catalog.pg_namespace n, pg_catalog.pg_roles r "
	"WHERE n.nspname = $1 AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER "
	"AND pg_catalog.pg_has_role(r.oid, n.nspowner, 'MEMBER') "
	"AND pg_catalog.has_database_privilege(r.oid, pg_catalog.current_database(), 'CREATE')";

void
relation_trust_warn_if_renamable(PGconn *conn, const char *schema, const char *display)
{
	const char *values[1] = {schema};
	PGresult *res = db_query(conn, "looking for roles that could rename the schema", renamers_sql, 1, values,
							 PGRES_TUPLES_OK);

	if (res != NULL && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		log_event(LOG_LEVEL_WARNING, "schema_renamable", NULL,
				  "schema \"%s\" can be renamed by %s (its owner or a member, with CREATE on the database), "
				  "and this role may not create temporary views here (no TEMPORARY privilege on the "
				  "database), so its writes name the history table %s: a rename landing inside one statement "
				  "can point that name at a table of theirs; grant TEMPORARY, or keep the history table in a "
				  "schema only this role or a superuser controls",
				  schema, PQgetvalue(res, 0, 0), display);
	PQclear(res);
}

char *
relation_trust_view_target(const char *view)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_append(&sb, "pg_temp.");
	sql_append_ident(&sb, view);
	return textbuf_detach(&sb);
}

void
relation_trust_view_drop(PGconn *conn, const char *view_target)
{
	char    *sql;
	db_error err = {0};

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)
		return;
	sql = xasprintf("DROP VIEW IF EXISTS %s", view_target);
	if (!db_run_ex(conn, sql, 0, NULL, PGRES_COMMAND_OK, NULL, &err, NULL, false))
		log_event(LOG_LEVEL_DEBUG, "view_drop_failed", NULL, "could not drop %s: %s", view_target,
				  err.message ? err.message : "?");
	db_error_clear(&err);
	free(sql);
}

/*
 * The check after the view is made, in its transaction: the view's OID and
 * its _RETURN rule's row version, or an error (22P02, the text of $3) when
 * it reads anything but the relation $2: the name in the CREATE was
 * resolved like any other, and a rename may have pointed it elsewhere.
 */
static const char view_check_sql[] =
	"SELECT v.oid, r.xmin FROM pg_catalog.pg_class v "
	"  JOIN pg_catalog.pg_rewrite r ON r.ev_class = v.oid AND r.rulename = '_RETURN'::pg_catalog.name "
	"WHERE v.relnamespace = pg_catalog.pg_my_temp_schema() AND v.relname = $1::pg_catalog.name "
	"  AND v.relkind = 'v' "
	"  AND CASE WHEN (SELECT pg_catalog.array_agg(DISTINCT d.refobjid) FROM pg_catalog.pg_depend d "
	"                  WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid "
	"                    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
	"                    AND d.refobjid <> v.oid) = ARRAY[$2::pg_catalog.oid] "
	"      THEN true ELSE pg_catalog.concat($3::pg_catalog.text)::pg_catalog.int4 = 0 END";

bool
relation_trust_view_refused(const db_error *err)
{
	return strcmp(err->sqlstate, "42501") == 0 || strcmp(err->sqlstate, "P0001") == 0 ||
		   strcmp(err->sqlstate, "25006") == 0;
}

bool
relation_trust_view_make(PGconn *conn, const char *view, const char *qualified, unsigned int oid,
						 const char *message, relation_view *out, db_error *err)
{
	char *target = relation_trust_view_target(view);
	char *create = xasprintf("CREATE OR REPLACE TEMPORARY VIEW %s AS SELECT * FROM %s", target, qualified);
	char  oid_text[16];
	const char *values[3] = {view, oid_text, message};
	PGresult   *res = NULL;
	pipeline    p;
	bool        ok;

	snprintf(oid_text, sizeof(oid_text), "%u", oid);
	pipeline_init(&p);
	p.uninterruptible = true;
	/* no BEGIN: one implicit transaction, a failed check takes the view with it */
	(void) pipeline_add(&p, create, 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
	(void) pipeline_add(&p, view_check_sql, 3, values, PGRES_TUPLES_OK, pipeline_keep_result, &res);
	ok = pipeline_run(conn, &p, NULL, err);
	if (ok && (res == NULL || PQntuples(res) != 1))
	{
		db_error_set(err, PGERR_OTHER, NULL,
					 xasprintf("the view %s was not found after it was made", target));
		ok = false;
	}
	if (ok)
	{
		out->oid = (unsigned int) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(out->rule_xmin, sizeof(out->rule_xmin), "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	pipeline_free(&p);
	free(create);
	free(target);
	return ok;
}

static int
refuse(const char *display, const char *why, const char *fix)
{
	log_event(LOG_LEVEL_ERROR, "untrusted_table", NULL,
			  "refusing to use table \"%s\": %s (its code would run with this run's privileges); %s", display,
			  why, fix);
	return EXIT_USAGE;
}

/* The full check's query, with relation_trust_query's parameters. */
static const char *
full_query(const char *schema, const char *rel, bool read_only, const char *values[3])
{
	values[0] = schema;
	values[1] = rel;
	values[2] = read_only ? "true" : "false";
	return trust_sql;
}

const char *
relation_trust_query(const char *schema, const char *rel, bool read_only, const char *values[3])
{
	(void) full_query(schema, rel, read_only, values);
	return first_look_sql;
}

/* What a relation that is not a plain table is, for the refusal. */
static const char *
relkind_word(char kind)
{
	switch (kind)
	{
		case 'v':
			return "a view";
		case 'm':
			return "a materialized view";
		case 'f':
			return "a foreign table";
		case 'p':
			return "a partitioned table";
		case 'S':
			return "a sequence";
		default:
			return "not a table";
	}
}

/* The full check's verdict on its row (never EXIT_UNREACHABLE). */
static int
full_judge(const PGresult *res, const char *display, bool read_only)
{
	char *why = NULL;
	int   rc = EXIT_OK;

	if (PQntuples(res) == 0)
		return EXIT_OK;
	/*
	 * A view's functions run with the reader's privileges, and a view of the
	 * schema's owner passes the readers' ownership test: only a plain table.
	 */
	if (strcmp(PQgetvalue(res, 0, 8), "r") != 0)
	{
		why = xasprintf("it is not a plain table (%s)", relkind_word(PQgetvalue(res, 0, 8)[0]));
		rc = refuse(display, why,
					"drop or rename it: the toolkit reads and writes only a plain table of its own");
	}
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		why = read_only
				  ? xasprintf("it is owned by role \"%s\", which is neither a role of \"%s\", the schema's "
							  "owner nor a superuser",
							  PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2))
				  : xasprintf("it is owned by role \"%s\", not by the current role \"%s\"",
							  PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
		rc = refuse(display, why,
					"run as its owner (--role), or have a superuser check it and change its owner");
	}
	else if (!PQgetisnull(res, 0, 3))
	{
		why = xasprintf("it has triggers (%s)", PQgetvalue(res, 0, 3));
		rc = refuse(display, why, "drop them: nothing but the toolkit may act on this table");
	}
	else if (!PQgetisnull(res, 0, 4))
	{
		why = xasprintf("it has rules (%s)", PQgetvalue(res, 0, 4));
		rc = refuse(display, why, "drop them: nothing but the toolkit may act on this table");
	}
	else if (strcmp(PQgetvalue(res, 0, 5), "t") == 0)
		rc = refuse(display, "it has row-level security or policies",
					"disable row level security and drop its policies");
	else if (!PQgetisnull(res, 0, 7))
	{
		/* checked once at the start, so no one else may add one during the run */
		why = xasprintf("other roles may add triggers to it (TRIGGER granted to %s)", PQgetvalue(res, 0, 7));
		rc = refuse(display, why, "revoke TRIGGER on it from every role but its owner");
	}
	else if (strcmp(PQgetvalue(res, 0, 6), "t") == 0)
		rc = refuse(display, "it has an inheritance parent or children",
					"use a plain table (choose another --history-table)");
	else if (!PQgetisnull(res, 0, 9))
	{
		/*
		 * Planning any read of the table folds their constant calls, an
		 * IMMUTABLE label being the owner's word: the reader's privileges.
		 */
		why = xasprintf("its indexes or statistics compute expressions or predicates (%s), which planning "
						"a read of it evaluates",
						PQgetvalue(res, 0, 9));
		rc = refuse(display, why, "drop them: the toolkit's tables need plain column indexes only");
	}
	else if (!PQgetisnull(res, 0, 10))
	{
		/* a cast a read applies, an implicit one included, is its owner's function */
		why = xasprintf("its columns have types that are not PostgreSQL's own (%s), whose casts run code of "
						"their owner",
						PQgetvalue(res, 0, 10));
		rc = refuse(display, why,
					"use the toolkit's own column types (drop the table: the toolkit creates it)");
	}
	free(why);
	return rc;
}

/* The relation a verdict was about, from its row (column col), when it trusted it. */
static void
verdict_oid(const PGresult *res, int col, int rc, unsigned int *oid)
{
	if (oid != NULL)
		*oid = rc == EXIT_OK && PQntuples(res) > 0 ? (unsigned int) strtoul(PQgetvalue(res, 0, col), NULL, 10)
												   : 0;
}

/* The first look (or, full, trust_sql) on conn, and its verdict. */
static int
run_check(PGconn *conn, bool full, const char *schema, const char *rel, const char *display, bool read_only,
		  unsigned int *oid)
{
	const char *values[3];
	const char *sql = full ? full_query(schema, rel, read_only, values)
						   : relation_trust_query(schema, rel, read_only, values);
	PGresult   *res = db_query(conn, "checking who owns the table", sql, 3, values, PGRES_TUPLES_OK);
	int         rc;

	if (res == NULL)
		return EXIT_UNREACHABLE;
	if (full)
	{
		rc = full_judge(res, display, read_only);
		verdict_oid(res, 11, rc, oid);
	}
	else
		rc = relation_trust_judge(conn, res, schema, rel, display, read_only, oid);
	PQclear(res);
	return rc;
}

int
relation_trust_judge(PGconn *conn, const PGresult *first_look, const char *schema, const char *rel,
					 const char *display, bool read_only, unsigned int *oid)
{
	if (PQntuples(first_look) == 0 || strcmp(PQgetvalue(first_look, 0, 0), "t") == 0)
	{
		/* absent, or clear of everything trust_sql looks for */
		verdict_oid(first_look, 1, EXIT_OK, oid);
		return EXIT_OK;
	}
	/* the full check's own row: the relation it judged, should the name have moved */
	return run_check(conn, true, schema, rel, display, read_only, oid);
}

int
relation_trust_check(PGconn *conn, const char *schema, const char *rel, const char *display, bool read_only,
					 unsigned int *oid)
{
	return run_check(conn, false, schema, rel, display, read_only, oid);
}

char *
relation_trust_pin_sql(PGconn *conn, const char *qualified, unsigned int oid, const char *message)
{
	char *name = PQescapeLiteral(conn, qualified, strlen(qualified));
	char *text = PQescapeLiteral(conn, message, strlen(message));
	char *sql = NULL;

	/*
	 * int4in of the message fails when the planner folds it, which it does
	 * only when the name no longer stands for oid: the CASE folds first.
	 */
	if (name != NULL && text != NULL)
		sql = xasprintf(
			"(CASE WHEN %s::pg_catalog.regclass OPERATOR(pg_catalog.=) '%u'::pg_catalog.oid "
			"THEN true ELSE pg_catalog.int4in(%s::pg_catalog.cstring) OPERATOR(pg_catalog.=) 0 END)",
			name, oid, text);
	PQfreemem(name);
	PQfreemem(text);
	return sql;
}

static const char read_settings_sql[] =
	"SELECT pg_catalog.set_config('constraint_exclusion', 'partition', true), "
	"pg_catalog.set_config('DateStyle', 'ISO, YMD', true), pg_catalog.set_config('TimeZone', 'UTC', true), "
	"pg_catalog.set_config('row_security', 'off', true)";

/* What a read's verdict saw: the relation judged, and its schema's row version. */
typedef struct relation_read_pin
{
	unsigned int oid;
	char         ns_version[24]; /* the pg_namespace row's xmin */
} relation_read_pin;

/*
 * Begin a read of schema.rel (qualified: its quoted name) that cannot be
 * swapped under it: the schema's owner may drop or rename the table and
 * put a view or an armed table of its own in its place between a check
 * and a read, and the read, which resolves the name again once it has its
 * lock, would run that code with this run's privileges.  So one
 * transaction: the table's ACCESS SHARE lock, taken by the Parse of a
 * query that is never run (it runs nothing of a view, not even at plan
 * time, needs no privilege, and DROP, RENAME and every ALTER that adds a
 * policy or row-level security wait for its end), constraint_exclusion
 * at its default (on, the planner would fold the table's CHECK
 * constraints), then relation_trust_check's verdict under that lock.
 * EXIT_OK with the transaction open, and *pin (when pin is not NULL) the
 * relation judged and its schema's row version: the caller reads, then
 * ends it (COMMIT).  Otherwise the transaction is rolled back and the
 * return values are relation_trust_check's (the table must exist: a
 * missing one fails the LOCK, EXIT_UNREACHABLE).
 */
static int
begin_read(PGconn *conn, const char *qualified, const char *schema, const char *rel, const char *display,
		   bool read_only, relation_read_pin *pin)
{
	/*
	 * The lock a read takes, ACCESS SHARE, taken by the Parse of a query
	 * that is never run: parse analysis and the rewriter lock the relation
	 * (a view and what it reads too) until the transaction ends, and run
	 * nothing.  Not LOCK TABLE, which wants the table's SELECT privilege
	 * where a reader may hold its columns' only; not a query that runs
	 * (SELECT ... WHERE false), whose planning evaluates a view's
	 * IMMUTABLE-declared functions with constant arguments.
	 */
	char       *lock = xasprintf("SELECT FROM %s", qualified);
	const char *values[3];
	const char *look = relation_trust_query(schema, rel, read_only, values);
	PGresult   *first_look = NULL, *ns_version = NULL;
	const char *ns_values[1] = {schema};
	db_error    err = {0};
	pipeline    p;
	int         rc = EXIT_OK;

	pipeline_init(&p);
	pipeline_set_quick(&p, pipeline_add(&p, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, NULL));
	/*
	 * constraint_exclusion = on (the database's or the role's setting, the
	 * schema's owner may own the database) has the planner fold the
	 * table's CHECK constraints, whose functions would then run: the
	 * default, for this transaction, whatever the session says.
	 * row_security off: the copy reads the table by name again, and the
	 * schema's owner can point the name at another table of its own by
	 * renaming schemas (ALTER SCHEMA ... RENAME locks no table); COPY of a
	 * table with row-level security is a planned query whose policies run
	 * as the reader, where with row_security off it fails before any runs.
	 * And dates in one form for relation_trust_copy's readers.
	 */
	(void) pipeline_add(&p, read_settings_sql, 0, NULL, PGRES_TUPLES_OK, NULL, NULL);
	(void) pipeline_add_prepare(&p, "", lock, 0);
	(void) pipeline_add(&p, look, 3, values, PGRES_TUPLES_OK, pipeline_keep_result, &first_look);
	/* the schema's row version: a rename, there and back again too, gives it a new one */
	(void) pipeline_add(&p,
						"SELECT n.xmin::pg_catalog.text FROM pg_catalog.pg_namespace n WHERE n.nspname = $1",
						1, ns_values, PGRES_TUPLES_OK, pipeline_keep_result, &ns_version);
	if (!pipeline_run(conn, &p, NULL, &err))
	{
		char *msg = db_error_format(&err);

		log_event(LOG_LEVEL_ERROR, "query_failed", NULL, "locking and checking the table \"%s\": %s", display,
				  msg);
		free(msg);
		rc = EXIT_UNREACHABLE;
	}
	/* under the lock: what the caller reads next is the relation judged here */
	if (rc == EXIT_OK)
		rc = relation_trust_judge(conn, first_look, schema, rel, display, read_only, pin ? &pin->oid : NULL);
	if (pin != NULL)
		snprintf(pin->ns_version, sizeof(pin->ns_version), "%s",
				 ns_version && PQntuples(ns_version) == 1 ? PQgetvalue(ns_version, 0, 0) : "");
	if (rc != EXIT_OK && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
		db_command_uninterruptible(conn, "ending the read", "ROLLBACK");
	db_error_clear(&err);
	pipeline_free(&p);
	PQclear(first_look);
	PQclear(ns_version);
	free(lock);
	return rc;
}

/*
 * The copy's SQL: COPY names the table again, and renaming schemas can
 * point that name at another table of the schema's owner between the
 * verdict and the copy (COPY of it runs nothing, but its rows are not the
 * history: a forged row made up skipped a migration).  So the check after
 * the copy, in the same round trip: the name still stands for the relation
 * judged (the pin, folded when planned), and the schema's row is the
 * version the verdict saw, for a rename there and back again while the
 * copy waited (a value of the owner's table stored out of line, whose
 * TOAST index the owner held locked, stalled it as long as it liked).  The
 * second half's error is a cast of the message to int4 that only runs
 * when it fails (concat() is stable: never folded early).
 */
static char *
copy_sql(PGconn *conn, const relation_ref *ref, const char *columns, const relation_read_pin *rp)
{
	char *refusal = xasprintf("refusing to use table \"%s\": its name stood for another table while it was "
							  "read (schemas renamed by the schema's owner?)",
							  ref->display);
	char *pin = relation_trust_pin_sql(conn, ref->qualified, rp->oid, refusal);
	char *schema = PQescapeLiteral(conn, ref->schema, strlen(ref->schema));
	char *version = PQescapeLiteral(conn, rp->ns_version, strlen(rp->ns_version));
	char *message = PQescapeLiteral(conn, refusal, strlen(refusal));
	char *sql = NULL;

	if (pin && schema && version && message)
		sql = xasprintf(
			"COPY %s (%s) TO STDOUT; "
			"SELECT CASE WHEN %s AND (SELECT n.xmin::pg_catalog.text FROM pg_catalog.pg_namespace n "
			"WHERE n.nspname = %s) OPERATOR(pg_catalog.=) %s THEN true "
			"ELSE pg_catalog.concat(%s::pg_catalog.text)::pg_catalog.int4 OPERATOR(pg_catalog.=) 0 END; "
			"COMMIT",
			ref->qualified, columns, pin, schema, version, message);
	free(refusal);
	free(pin);
	PQfreemem(schema);
	PQfreemem(version);
	PQfreemem(message);
	return sql;
}

int
relation_trust_copy(PGconn *conn, const relation_ref *ref, const char *columns, copy_rows *rows)
{
	relation_read_pin pin = {0, ""};
	int      rc = begin_read(conn, ref->qualified, ref->schema, ref->rel, ref->display, ref->read_only, &pin);
	char    *sql;
	db_error err = {0};

	if (rc != EXIT_OK)
		return rc;
	/* a plain scan, never planned; the pin and the end of the read in the same round trip */
	sql = copy_sql(conn, ref, columns, &pin);
	if (sql == NULL || !db_copy_out(conn, sql, rows, &err) || rows->malformed)
	{
		char *msg = sql == NULL   ? xstrdup(PQerrorMessage(conn))
					: err.message ? db_error_format(&err)
								  : xstrdup("a row with another number of columns");

		log_event(LOG_LEVEL_ERROR, "query_failed", NULL, "reading the table \"%s\": %s", ref->display, msg);
		free(msg);
		if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
			db_command_uninterruptible(conn, "ending the read", "ROLLBACK");
		/* the pin's refusal (22P02, from int4in) is a refusal, as the verdict's */
		rc = strcmp(err.sqlstate, "22P02") == 0 ? EXIT_USAGE : EXIT_UNREACHABLE;
	}
	db_error_clear(&err);
	free(sql);
	return rc;
}

/*
 * Triggers whose function belongs to neither the table's owner nor a
 * superuser: code of a role that holds only TRIGGER on the table, which a
 * data migration would run with its own privileges.
 */
static const char foreign_trigger_sql[] =
	"SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I (trigger %I runs %I.%I of role %I)', n.nspname, "
	"         c.relname, t.tgname, pn.nspname, p.proname, pg_catalog.pg_get_userbyid(p.proowner)), '; ') "
	"FROM pg_catalog.pg_trigger t "
	"JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid "
	"JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace "
	"WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' "
	"  AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' "
	"  AND p.proowner <> c.relowner "
	"  AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = p.proowner)";

int
relation_foreign_triggers(PGconn *conn, char **found)
{
	PGresult *res =
		db_query(conn, "looking for triggers of other roles", foreign_trigger_sql, 0, NULL, PGRES_TUPLES_OK);

	*found = NULL;
	if (res == NULL)
		return EXIT_UNREACHABLE;
	if (!PQgetisnull(res, 0, 0))
		*found = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return EXIT_OK;
}
