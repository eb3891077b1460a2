/*-------------------------------------------------------------------------
 *
 * skipped_object.c
 *	  CREATE ... IF NOT EXISTS must not adopt another role's object.
 *
 * migrator/skipped_object.c
 *
 *-------------------------------------------------------------------------
 */
#include "skipped_object.h"

#include <stdlib.h>
#include <string.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "conn.h"
#include "memory.h"
#include "query.h"

bool
skipped_object_notice(const char *sqlstate)
{
	/*
	 * duplicate_table (relations, indexes), duplicate_schema,
	 * duplicate_object (collations, statistics, extensions, servers, user
	 * mappings, enum labels) and duplicate_column (ADD COLUMN IF NOT EXISTS)
	 */
	return sqlstate != NULL && (strcmp(sqlstate, "42P07") == 0 || strcmp(sqlstate, "42P06") == 0 ||
								strcmp(sqlstate, "42710") == 0 || strcmp(sqlstate, "42701") == 0);
}

/*
 * Every check returns the owner's name, the current role, whether that role
 * owns the object, and whether the object is where the statement puts it.
 */
#define CURRENT_ROLE_OID "(SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)"

/*
 * Each query takes $1 the name, $2 its schema, $3 and $4 the schema and
 * name of the table the object must be on (NULL: any); $2 to $4 only as
 * far as the kind's nparams.  No row: nothing of that name where the server
 * looked, so the notice was about something else.
 */
static const char relation_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(c.relowner), CURRENT_USER, c.relowner = " CURRENT_ROLE_OID ", "
	"       $4::pg_catalog.name IS NULL OR EXISTS (SELECT FROM pg_catalog.pg_index i "
	"         JOIN pg_catalog.pg_class t ON t.oid = i.indrelid "
	"         JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace "
	"         WHERE i.indexrelid = c.oid AND t.relname = $4 AND tn.nspname = $3::pg_catalog.name) "
	"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $2::pg_catalog.name AND c.relname = $1::pg_catalog.name";

/*
 * $2: the owner CREATE SCHEMA ... AUTHORIZATION names (NULL: the current
 * role); $1 "": the schema AUTHORIZATION CURRENT_USER names.
 */
static const char schema_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(n.nspowner), coalesce($2::pg_catalog.name, CURRENT_USER), "
	"       n.nspowner = coalesce((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = $2::pg_catalog.name), "
	"                             " CURRENT_ROLE_OID "), true "
	"FROM pg_catalog.pg_namespace n "
	"WHERE n.nspname = coalesce(NULLIF($1::pg_catalog.name, ''), CURRENT_USER)";

/* the server only looks at collations of the database's encoding or of any (-1) */
static const char collation_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(c.collowner), CURRENT_USER, c.collowner = " CURRENT_ROLE_OID ", true "
	"FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace "
	"WHERE n.nspname = $2::pg_catalog.name AND c.collname = $1::pg_catalog.name "
	"  AND c.collencoding IN (-1, pg_catalog.pg_char_to_encoding(pg_catalog.getdatabaseencoding()))";

/* a statistics object is on one table, as an index is */
static const char statistics_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(s.stxowner), CURRENT_USER, s.stxowner = " CURRENT_ROLE_OID ", "
	"       EXISTS (SELECT FROM pg_catalog.pg_class t "
	"         JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace "
	"         WHERE t.oid = s.stxrelid AND t.relname = $4::pg_catalog.name "
	"           AND tn.nspname = $3::pg_catalog.name) "
	"FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace "
	"WHERE n.nspname = $2::pg_catalog.name AND s.stxname = $1::pg_catalog.name";

/*
 * An extension is the database's, not a schema's.  One a superuser owns is
 * accepted: untrusted extensions (and plpgsql, the bootstrap superuser's)
 * can only be installed by one, a DBA commonly does it before the
 * application's role runs "CREATE EXTENSION IF NOT EXISTS", and such an
 * owner can do anything the extension would let it do anyway.
 */
static const char extension_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(e.extowner), CURRENT_USER, "
	"       e.extowner = " CURRENT_ROLE_OID " OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r "
	"         WHERE r.oid = e.extowner), true "
	"FROM pg_catalog.pg_extension e WHERE e.extname = $1::pg_catalog.name";

static const char server_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(s.srvowner), CURRENT_USER, s.srvowner = " CURRENT_ROLE_OID ", true "
	"FROM pg_catalog.pg_foreign_server s WHERE s.srvname = $1::pg_catalog.name";

/* an enum's labels are its type's, and only the type's owner adds them */
static const char type_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(t.typowner), CURRENT_USER, t.typowner = " CURRENT_ROLE_OID ", true "
	"FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
	"WHERE n.nspname = $2::pg_catalog.name AND t.typname = $1::pg_catalog.name";

/*
 * OR REPLACE keeps the owner: replacing the body of another role's function
 * leaves her the owner, free to replace it again later.  Any function of
 * that name there owned by another role (but a superuser) is refused.
 */
static const char function_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(p.proowner), CURRENT_USER, false, true "
	"FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
	"WHERE n.nspname = $2::pg_catalog.name AND p.proname = $1::pg_catalog.name "
	"  AND p.proowner <> " CURRENT_ROLE_OID " "
	"  AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = p.proowner) "
	"LIMIT 1";

/*
 * What each kind of object a statement creates is checked against: the
 * policy, as data.  statement and what name it in the refusal; on_table,
 * when the object must also be on the statement's table, names what that
 * table then lacks.
 */
typedef struct skipped_kind
{
	const char *statement;
	const char *what;      /* before the name: "" when the statement says it */
	bool        in_schema; /* shown and looked up as schema.name */
	const char *sql;
	int         nparams;
	const char *on_table; /* NULL: anywhere */
} skipped_kind;

enum
{
	KIND_RELATION,
	KIND_INDEX,
	KIND_SCHEMA,
	KIND_FUNCTION,
	KIND_COLLATION,
	KIND_STATISTICS,
	KIND_EXTENSION,
	KIND_SERVER,
	KIND_COLUMN,
	KIND_ENUM_LABEL
};

static const skipped_kind kinds[] = {
	[KIND_RELATION] = {"CREATE ... IF NOT EXISTS", "", true, relation_sql, 4, NULL},
	[KIND_INDEX] = {"CREATE INDEX IF NOT EXISTS", "", true, relation_sql, 4, "index"},
	[KIND_SCHEMA] = {"CREATE SCHEMA IF NOT EXISTS", "", false, schema_sql, 2, NULL},
	[KIND_FUNCTION] = {"CREATE OR REPLACE", "function ", true, function_sql, 2, NULL},
	[KIND_COLLATION] = {"CREATE COLLATION IF NOT EXISTS", "", true, collation_sql, 2, NULL},
	[KIND_STATISTICS] = {"CREATE STATISTICS IF NOT EXISTS", "", true, statistics_sql, 4, "statistics object"},
	[KIND_EXTENSION] = {"CREATE EXTENSION IF NOT EXISTS", "", false, extension_sql, 1, NULL},
	[KIND_SERVER] = {"CREATE SERVER IF NOT EXISTS", "", false, server_sql, 1, NULL},
	[KIND_COLUMN] = {"ALTER TABLE ... ADD COLUMN IF NOT EXISTS", "a column of table ", true, relation_sql, 4,
					 NULL},
	[KIND_ENUM_LABEL] = {"ALTER TYPE ... ADD VALUE IF NOT EXISTS", "a value of type ", true, type_sql, 2,
						 NULL},
};

/* What a statement creates: its kind, (schema, name), maybe a table it must be on. */
typedef struct created
{
	const skipped_kind *kind;
	const char         *schema; /* NULL or "": the run's --schema */
	const char         *name;
	const char         *table_schema; /* as schema, when table is set */
	const char         *table;        /* NULL: on no table */
	const char         *owner;        /* CREATE SCHEMA AUTHORIZATION r: r; else NULL */
	bool                may_skip;     /* IF NOT EXISTS (CREATE OR REPLACE: false) */
} created;

static bool
set_relation(created *c, int kind, const PgQuery__RangeVar *rv)
{
	c->kind = &kinds[kind];
	c->schema = rv->schemaname;
	c->name = rv->relname;
	return true;
}

/* [[catalog.]schema.]name as String nodes (the server checks the catalog) */
static bool
set_name_list(created *c, int kind, PgQuery__Node *const *items, size_t n)
{
	if (n == 0 || n > 3)
		return false;
	for (size_t i = 0; i < n; i++)
		if (items[i]->node_case != PG_QUERY__NODE__NODE_STRING)
			return false;
	c->kind = &kinds[kind];
	c->name = items[n - 1]->string->sval;
	c->schema = n >= 2 ? items[n - 2]->string->sval : NULL;
	return true;
}

/* Does the ALTER TABLE add a column IF NOT EXISTS (the only skip it has)? */
static bool
adds_column_if_missing(const PgQuery__AlterTableStmt *a)
{
	for (size_t i = 0; i < a->n_cmds; i++)
		if (a->cmds[i]->node_case == PG_QUERY__NODE__NODE_ALTER_TABLE_CMD &&
			a->cmds[i]->alter_table_cmd->subtype == PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn &&
			a->cmds[i]->alter_table_cmd->missing_ok)
			return true;
	return false;
}

/*
 * CREATE SCHEMA [name] [AUTHORIZATION r]: r must own it (the current role
 * without AUTHORIZATION, or with CURRENT_USER and the like), and without a
 * name the schema is called r ("" for CURRENT_USER: schema_sql's).
 */
static bool
set_schema(created *c, const PgQuery__CreateSchemaStmt *s)
{
	const PgQuery__RoleSpec *r = s->authrole;
	bool named_role = r != NULL && r->roletype == PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_CSTRING;

	c->kind = &kinds[KIND_SCHEMA];
	c->name = s->schemaname != NULL ? s->schemaname : "";
	c->owner = named_role ? r->rolename : NULL;
	if (c->name[0] == '\0' && named_role)
		c->name = r->rolename;
	return c->name[0] != '\0' || r != NULL;
}

static bool
set_statistics(created *c, const PgQuery__CreateStatsStmt *s)
{
	const PgQuery__RangeVar *rv;

	/* one table in PostgreSQL 11-17; a name is required with IF NOT EXISTS */
	if (s->n_relations != 1 || s->relations[0]->node_case != PG_QUERY__NODE__NODE_RANGE_VAR ||
		!set_name_list(c, KIND_STATISTICS, s->defnames, s->n_defnames))
		return false;
	rv = s->relations[0]->range_var;
	c->table_schema = rv->schemaname;
	c->table = rv->relname;
	return true;
}

/*
 * Every statement kind that can skip (IF NOT EXISTS in PostgreSQL 11-17) or
 * replace in place, but CREATE USER MAPPING IF NOT EXISTS: a user mapping
 * has no owner, and only the server's owner, the mapped role itself or a
 * superuser can create one; each of them can change it after we created
 * it anyway, so one that was there first gives no role anything more.
 */
static bool
what_is_created(const PgQuery__Node *n, created *c)
{
	memset(c, 0, sizeof(*c));
	switch (n->node_case)
	{
		case PG_QUERY__NODE__NODE_CREATE_STMT:
			c->may_skip = n->create_stmt->if_not_exists;
			return set_relation(c, KIND_RELATION, n->create_stmt->relation);
		case PG_QUERY__NODE__NODE_CREATE_FOREIGN_TABLE_STMT:
			c->may_skip = n->create_foreign_table_stmt->base_stmt->if_not_exists;
			return set_relation(c, KIND_RELATION, n->create_foreign_table_stmt->base_stmt->relation);
		case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
			c->may_skip = n->create_seq_stmt->if_not_exists;
			return set_relation(c, KIND_RELATION, n->create_seq_stmt->sequence);
		case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
			c->may_skip = n->create_table_as_stmt->if_not_exists;
			return set_relation(c, KIND_RELATION, n->create_table_as_stmt->into->rel);
		case PG_QUERY__NODE__NODE_INDEX_STMT:
			if (n->index_stmt->idxname == NULL || n->index_stmt->idxname[0] == '\0')
				return false;
			/* an index lives in its table's schema */
			c->may_skip = n->index_stmt->if_not_exists;
			set_relation(c, KIND_INDEX, n->index_stmt->relation);
			c->name = n->index_stmt->idxname;
			c->table_schema = c->schema;
			c->table = n->index_stmt->relation->relname;
			return true;
		case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
			return n->create_function_stmt->replace &&
				   set_name_list(c, KIND_FUNCTION, n->create_function_stmt->funcname,
								 n->create_function_stmt->n_funcname);
		case PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT:
			c->may_skip = n->create_schema_stmt->if_not_exists;
			return set_schema(c, n->create_schema_stmt);
		case PG_QUERY__NODE__NODE_DEFINE_STMT:
			/* of the DefineStmt kinds, only CREATE COLLATION takes IF NOT EXISTS */
			c->may_skip = n->define_stmt->if_not_exists;
			return n->define_stmt->kind == PG_QUERY__OBJECT_TYPE__OBJECT_COLLATION &&
				   set_name_list(c, KIND_COLLATION, n->define_stmt->defnames, n->define_stmt->n_defnames);
		case PG_QUERY__NODE__NODE_CREATE_STATS_STMT:
			c->may_skip = n->create_stats_stmt->if_not_exists;
			return set_statistics(c, n->create_stats_stmt);
		case PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT:
			c->may_skip = n->create_extension_stmt->if_not_exists;
			c->kind = &kinds[KIND_EXTENSION];
			c->name = n->create_extension_stmt->extname;
			return true;
		case PG_QUERY__NODE__NODE_CREATE_FOREIGN_SERVER_STMT:
			c->may_skip = n->create_foreign_server_stmt->if_not_exists;
			c->kind = &kinds[KIND_SERVER];
			c->name = n->create_foreign_server_stmt->servername;
			return true;
		case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
			c->may_skip = true; /* when it is checked at all: the skip is its only one */
			return adds_column_if_missing(n->alter_table_stmt) &&
				   set_relation(c, KIND_COLUMN, n->alter_table_stmt->relation);
		case PG_QUERY__NODE__NODE_ALTER_ENUM_STMT:
			c->may_skip = true;
			return n->alter_enum_stmt->skip_if_new_val_exists &&
				   set_name_list(c, KIND_ENUM_LABEL, n->alter_enum_stmt->type_name,
								 n->alter_enum_stmt->n_type_name);
		default:
			return false;
	}
}

bool
skipped_object_replaces(const sql_statement *st)
{
	return strcmp(st->kind, "CreateFunctionStmt") == 0;
}

bool
skipped_object_may_skip(const migration *m, const sql_statement *st)
{
	const PgQuery__Node *n;
	created              c;

	if (m->script.tree == NULL || st->tree_index < 0 || (size_t) st->tree_index >= m->script.tree->n_stmts)
		return false;
	n = m->script.tree->stmts[st->tree_index]->stmt;
	return n != NULL && what_is_created(n, &c) && c.may_skip;
}

static bool
refuse(db_error *err, char *message)
{
	db_error_clear(err);
	err->cls = PGERR_OTHER;
	err->message = message;
	return false;
}

/* Is the object the check found (the first row of res) acceptable?  Else err says why. */
static bool
judge(const created *c, const char *const *values, const PGresult *res, db_error *err)
{
	char *shown = c->kind->in_schema ? xasprintf("%s.%s", values[1], values[0])
									 : xstrdup(values[0][0] ? values[0] : PQgetvalue(res, 0, 1));
	bool  ok = true;

	if (c->kind == &kinds[KIND_FUNCTION])
		ok = refuse(err,
					xasprintf("CREATE OR REPLACE of function \"%s\": a function of that name there is "
							  "owned by role \"%s\", and OR REPLACE would keep that role its owner: drop it "
							  "or change its owner after checking it",
							  shown, PQgetvalue(res, 0, 0)));
	/*
	 * An index is its table's owner's, whoever made it, and only that owner
	 * (or a superuser) makes one: on the statement's table, it is not a
	 * planted one, even when a superuser's run made it on a table of the
	 * application's role.
	 */
	else if (c->kind != &kinds[KIND_INDEX] && strcmp(PQgetvalue(res, 0, 2), "t") != 0)
		ok = refuse(err,
					xasprintf("%s skipped %s\"%s\", which exists but is owned by role \"%s\", not by \"%s\": "
							  "another role's object is never adopted; drop it or change its owner after "
							  "checking it",
							  c->kind->statement, c->kind->what, shown, PQgetvalue(res, 0, 0),
							  PQgetvalue(res, 0, 1)));
	else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
		ok = refuse(err, xasprintf("%s skipped \"%s\", which exists on another table, not on \"%s\": the "
								   "table has no such %s",
								   c->kind->statement, shown, values[3], c->kind->on_table));
	free(shown);
	return ok;
}

/*
 * Where the statement's unqualified names went, asked in the migration's
 * own search_path (a SET LOCAL of its own included), every name of ours
 * qualified so that the path captures nothing: the path itself (to put it
 * back), the schema a CREATE puts an unqualified object in (the first of
 * the path), and the schemas the relation and the type it names resolve to.
 */
static const char where_sql[] =
	"SELECT pg_catalog.current_setting('search_path'), (pg_catalog.current_schemas(false))[1], "
	"  (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
	"     ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
	"   WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(pg_catalog.quote_ident($1::pg_catalog.text))), "
	"  (SELECT n.nspname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n "
	"     ON n.oid OPERATOR(pg_catalog.=) t.typnamespace "
	"   WHERE t.oid OPERATOR(pg_catalog.=) pg_catalog.to_regtype(pg_catalog.quote_ident($2::pg_catalog.text)))";

/* A column of the first row of res, or fallback when it is NULL. */
static const char *
value_or(const PGresult *res, int col, const char *fallback)
{
	return PQgetisnull(res, 0, col) ? fallback : PQgetvalue(res, 0, col);
}

/*
 * values[1] and values[2] (the object's and its table's schema) where the
 * statement left them unqualified, as the server resolved them.
 */
static void
place_unqualified(const created *c, const PGresult *where, const char *schema, const char *values[4])
{
	const char *created_in = value_or(where, 1, schema);
	const char *relation_in = value_or(where, 2, schema);
	const char *type_in = value_or(where, 3, schema);
	bool        lookup = c->kind == &kinds[KIND_COLUMN] || c->kind == &kinds[KIND_INDEX];

	if (c->schema == NULL || c->schema[0] == '\0')
		values[1] = c->kind == &kinds[KIND_ENUM_LABEL] ? type_in : lookup ? relation_in : created_in;
	if (c->table_schema == NULL || c->table_schema[0] == '\0')
		values[2] = relation_in;
}

bool
skipped_object_check(PGconn *conn, const migration *m, const sql_statement *st, const char *schema,
					 db_error *err)
{
	created     c;
	const char *values[4];
	const char *names[2];
	PGresult   *where = NULL;
	PGresult   *res = NULL;
	bool        local;
	bool        ok;

	if (!what_is_created(m->script.tree->stmts[st->tree_index]->stmt, &c))
		return true;
	values[0] = c.name;
	values[1] = c.schema != NULL && c.schema[0] != '\0' ? c.schema : schema;
	values[2] = c.table_schema != NULL && c.table_schema[0] != '\0' ? c.table_schema : schema;
	values[3] = c.table;
	/* the relation an ADD COLUMN or a CREATE INDEX names; the type an ADD VALUE names */
	names[0] = c.table != NULL ? c.table : c.kind == &kinds[KIND_COLUMN] ? c.name : NULL;
	names[1] = c.kind == &kinds[KIND_ENUM_LABEL] ? c.name : NULL;
	local = PQtransactionStatus(conn) != PQTRANS_IDLE; /* else a no-transaction file */
	ok = db_run(conn, where_sql, 2, names, PGRES_TUPLES_OK, &where, err, NULL) && PQntuples(where) == 1;
	if (ok)
		place_unqualified(&c, where, schema, values);
	if (c.kind == &kinds[KIND_SCHEMA])
		values[1] = c.owner;
	/* our SQL, between the migration's statements: pg_catalog only, then the migration's path back */
	ok = ok && conn_set_search_path(conn, NULL, local, err) &&
		 db_run(conn, c.kind->sql, c.kind->nparams, values, PGRES_TUPLES_OK, &res, err, NULL) &&
		 conn_set_config(conn, "search_path", PQgetvalue(where, 0, 0), local, err);
	/* no row: nothing of that name where we looked, the server skipped something else */
	if (ok && PQntuples(res) > 0)
		ok = judge(&c, values, res, err);
	PQclear(res);
	PQclear(where);
	return ok;
}
