/*-------------------------------------------------------------------------
 *
 * index_sql.c
 *	  One CREATE INDEX statement, read with PostgreSQL's own parser:
 *	  checked, re-targeted and compared.
 *
 * Parsed with sql_parse_script() (errors placed as a migration's), scanned
 * once more with pg_query_scan() for the end of the relation: the source
 * after it is reused verbatim (index_sql_render, index_sql_tail).
 *
 * Comparing packs normalised copies of the IndexStmt with protobuf-c and
 * compares the bytes.  A string replaced in a copy is a fresh allocation,
 * freed unless it is protobuf-c's shared empty string: free_unpacked()
 * releases every copy.
 *
 * indexer/index_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "index_sql.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "index_respell.h"
#include "memory.h"
#include "sqlparse.h"
#include "sqlquote.h"

struct index_sql
{
	char                     *source; /* the statement as given */
	sql_script                script; /* its parse; owns the tree stmt points in */
	const PgQuery__IndexStmt *stmt;
	index_sql_info            info;
	int                       tail_offset; /* first byte after the relation */
	int                       end_offset;  /* first byte after the statement */
};

#define UTF8_BOM "\xEF\xBB\xBF"

static const char *
str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/*
 * Where the relation of stmt ends in text (the source after any BOM): the
 * first token after it, end when none follows, -1 when it is not found.
 */
static int
find_tail(const char *text, const PgQuery__IndexStmt *stmt, int end)
{
	PgQueryScanResult    scan_result;
	PgQuery__ScanResult *scan;
	int                  tail = -1;
	size_t               k;
	size_t               first;

	scan_result = pg_query_scan(text);
	if (scan_result.error != NULL)
	{
		pg_query_free_scan_result(scan_result);
		return -1;
	}
	scan = pg_query__scan_result__unpack(NULL, scan_result.pbuf.len, (const uint8_t *) scan_result.pbuf.data);
	pg_query_free_scan_result(scan_result);
	if (scan == NULL)
		return -1;

	for (k = 0; k < scan->n_tokens; k++)
		if (scan->tokens[k]->start == stmt->relation->location)
			break;
	if (k < scan->n_tokens)
	{
		first = k;
		/* qualified_name: name ('.' name)* */
		while (k + 2 < scan->n_tokens && scan->tokens[k + 1]->token == PG_QUERY__TOKEN__ASCII_46)
			k += 2;
		/* ONLY ( qualified_name ) */
		if (k + 1 < scan->n_tokens && first > 0 && scan->tokens[k + 1]->token == PG_QUERY__TOKEN__ASCII_41 &&
			scan->tokens[first - 1]->token == PG_QUERY__TOKEN__ASCII_40)
			k++;
		/* qualified_name '*' (inheritance, the default anyway) */
		if (k + 1 < scan->n_tokens && scan->tokens[k + 1]->token == PG_QUERY__TOKEN__ASCII_42)
			k++;
		if (k + 1 < scan->n_tokens && scan->tokens[k + 1]->start < end)
			tail = scan->tokens[k + 1]->start;
		else
			tail = end;
	}
	pg_query__scan_result__free_unpacked(scan, NULL);
	return tail;
}

index_sql *
index_sql_parse(const char *sql, char **why)
{
	index_sql                *def = xcalloc(1, sizeof(index_sql));
	sql_parse_error           perr;
	const PgQuery__IndexStmt *stmt;
	int                       bom = strncmp(sql, UTF8_BOM, 3) == 0 ? 3 : 0;

	*why = NULL;
	def->source = xstrdup(sql);
	if (!sql_parse_script(def->source, &def->script, &perr))
	{
		if (perr.line > 0)
			*why = xasprintf("%s (line %d, column %d)", perr.message, perr.line, perr.column);
		else
			*why = xstrdup(perr.message);
		sql_parse_error_free(&perr);
		goto fail;
	}
	if (def->script.n_stmts == 0)
	{
		*why = xstrdup("no statement");
		goto fail;
	}
	if (def->script.n_stmts > 1)
	{
		*why = xasprintf("%d statements; exactly one CREATE INDEX statement is allowed", def->script.n_stmts);
		goto fail;
	}
	stmt = def->script.tree->stmts[0]->stmt->index_stmt;
	if (def->script.tree->stmts[0]->stmt->node_case != PG_QUERY__NODE__NODE_INDEX_STMT || stmt == NULL ||
		stmt->relation == NULL)
	{
		*why = xasprintf("not a CREATE INDEX statement (%s)", def->script.stmts[0].kind);
		goto fail;
	}
	def->stmt = stmt;
	def->end_offset = def->script.stmts[0].offset - bom + (int) strlen(def->script.stmts[0].text);
	def->tail_offset = find_tail(def->source + bom, stmt, def->end_offset);
	if (def->tail_offset < 0)
	{
		*why = xstrdup("could not find the end of the relation name in the statement");
		goto fail;
	}
	def->tail_offset += bom;
	def->end_offset += bom;

	def->info.name = str_or_empty(stmt->idxname);
	def->info.schema = str_or_empty(stmt->relation->schemaname);
	def->info.table = str_or_empty(stmt->relation->relname);
	def->info.access_method = stmt->access_method && stmt->access_method[0] ? stmt->access_method : "btree";
	def->info.unique = stmt->unique;
	def->info.concurrent = stmt->concurrent;
	def->info.if_not_exists = stmt->if_not_exists;
	def->info.only = !stmt->relation->inh;
	def->info.has_predicate = stmt->where_clause != NULL;
	for (size_t i = 0; i < stmt->n_index_params; i++)
	{
		const PgQuery__Node *n = stmt->index_params[i];

		if (n->node_case == PG_QUERY__NODE__NODE_INDEX_ELEM && n->index_elem->expr != NULL)
			def->info.has_expressions = true;
	}
	def->info.catalog = str_or_empty(stmt->relation->catalogname);
	return def;

fail:
	index_sql_free(def);
	return NULL;
}

const index_sql_info *
index_sql_get_info(const index_sql *def)
{
	return &def->info;
}

static const char *
elem_column(const PgQuery__Node *n)
{
	if (n->node_case != PG_QUERY__NODE__NODE_INDEX_ELEM || n->index_elem->expr != NULL ||
		n->index_elem->name == NULL || n->index_elem->name[0] == '\0')
		return NULL;
	return n->index_elem->name;
}

int
index_sql_columns(const index_sql *def, const char **names, int max)
{
	const PgQuery__IndexStmt *s = def->stmt;
	int                       n = 0;

	for (size_t i = 0; i < s->n_index_params; i++, n++)
		if (n < max)
			names[n] = elem_column(s->index_params[i]);
	for (size_t i = 0; i < s->n_index_including_params; i++, n++)
		if (n < max)
			names[n] = elem_column(s->index_including_params[i]);
	return n;
}

bool
index_sql_check_definition(const index_sql *def, const char *name, const char *schema, const char *table,
						   char **why)
{
	const index_sql_info *in = &def->info;

	*why = NULL;
	if (!in->concurrent)
		*why = xstrdup(
			"CREATE INDEX without CONCURRENTLY blocks writes to the table for the whole build; write CREATE INDEX CONCURRENTLY IF NOT EXISTS");
	else if (!in->if_not_exists)
		*why = xstrdup(
			"CREATE INDEX CONCURRENTLY without IF NOT EXISTS; write CREATE INDEX CONCURRENTLY IF NOT EXISTS");
	else if (in->name[0] == '\0')
		*why = xstrdup("the statement does not name the index");
	else if (strcmp(in->name, name) != 0)
		*why = xasprintf("the statement creates index \"%s\", not \"%s\"%s", in->name, name,
						 strcasecmp(in->name, name) == 0
							 ? " (unquoted identifiers are folded to lower case: quote the name in the SQL)"
							 : "");
	else if (def->info.catalog[0] != '\0')
		*why = xasprintf("the relation names a database (\"%s.%s.%s\"); write table or schema.table",
						 def->info.catalog, in->schema, in->table);
	else if (in->only)
		*why = xstrdup(
			"ON ONLY is not allowed: the indexer itself builds indexes of partitioned tables partition by partition");
	else if (strcmp(in->table, table) != 0)
		*why = xasprintf("the statement creates the index on \"%s\", not on table \"%s\"%s", in->table, table,
						 strcasecmp(in->table, table) == 0
							 ? " (unquoted identifiers are folded to lower case: quote the name in the SQL)"
							 : "");
	else if (in->schema[0] != '\0' && strcmp(in->schema, schema) != 0)
		*why = xasprintf("the statement creates the index on \"%s.%s\", but the schema is \"%s\"", in->schema,
						 in->table, schema);
	return *why == NULL;
}

char *
index_sql_render(const index_sql *def, const index_sql_target *target)
{
	const char *name = target->name ? target->name : def->info.name;
	const char *schema = target->schema ? target->schema : def->info.schema;
	const char *table = target->table ? target->table : def->info.table;
	textbuf     sb;
	char       *q;

	textbuf_init(&sb);
	textbuf_append(&sb, def->info.unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
	if (target->concurrent)
		textbuf_append(&sb, "CONCURRENTLY ");
	if (target->if_not_exists)
		textbuf_append(&sb, "IF NOT EXISTS ");
	if (name[0] != '\0')
	{
		q = sql_quote_ident(name);
		textbuf_appendf(&sb, "%s ", q);
		free(q);
	}
	textbuf_append(&sb, "ON ");
	if (target->only)
		textbuf_append(&sb, "ONLY ");
	if (schema[0] != '\0')
	{
		q = sql_quote_ident(schema);
		textbuf_appendf(&sb, "%s.", q);
		free(q);
	}
	q = sql_quote_ident(table);
	textbuf_append(&sb, q);
	free(q);
	if (def->end_offset > def->tail_offset)
	{
		textbuf_append_char(&sb, ' ');
		textbuf_append_len(&sb, def->source + def->tail_offset,
						   (size_t) (def->end_offset - def->tail_offset));
	}
	return textbuf_detach(&sb);
}

const char *
index_sql_tail(const index_sql *def, size_t *len)
{
	*len = (size_t) (def->end_offset - def->tail_offset); /* find_tail: tail <= end */
	return def->source + def->tail_offset;
}

/* ---- normalisation ------------------------------------------------------ */

/* Replace a string of an unpacked message by a fresh copy of value. */
static void
replace_string(char **field, const char *value)
{
	if (*field != NULL && *field != protobuf_c_empty_string)
		free(*field);
	*field = xstrdup(value);
}

/*
 * Zero every "location" field of msg and of every message below it; depth
 * is msg's, bounded as sql_walk() is (trees from sql_parse_script() are
 * never deeper).
 */
static void
clear_locations(ProtobufCMessage *msg, int depth)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	if (depth > SQL_PARSE_MAX_DEPTH)
		return;
	for (unsigned i = 0; i < d->n_fields; i++)
	{
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char                           *member = (char *) msg + f->offset;

		/* of a oneof, only the member that is set holds a value */
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			*(uint32_t *) ((char *) msg + f->quantifier_offset) != f->id)
			continue;
		if (f->type == PROTOBUF_C_TYPE_INT32 && f->label != PROTOBUF_C_LABEL_REPEATED &&
			strcmp(f->name, "location") == 0)
			*(int32_t *) member = 0;
		else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		{
			if (f->label == PROTOBUF_C_LABEL_REPEATED)
			{
				size_t             n = *(size_t *) ((char *) msg + f->quantifier_offset);
				ProtobufCMessage **items = *(ProtobufCMessage ***) member;

				for (size_t k = 0; k < n; k++)
					if (items[k] != NULL)
						clear_locations(items[k], depth + 1);
			}
			else if (*(ProtobufCMessage **) member != NULL)
				clear_locations(*(ProtobufCMessage **) member, depth + 1);
		}
	}
}

/*
 * The text the server stores for a WITH (...) value, as defGetString()
 * makes it, or NULL for a node kind we leave alone.  Caller frees.
 */
static char *
option_value_text(const PgQuery__Node *arg)
{
	textbuf sb;

	switch (arg->node_case)
	{
		case PG_QUERY__NODE__NODE_INTEGER:
			return xasprintf("%d", (int) arg->integer->ival);
		case PG_QUERY__NODE__NODE_FLOAT:
			return xstrdup(str_or_empty(arg->float_->fval));
		case PG_QUERY__NODE__NODE_BOOLEAN:
			return xstrdup(arg->boolean->boolval ? "true" : "false");
		case PG_QUERY__NODE__NODE_STRING:
			return xstrdup(str_or_empty(arg->string->sval));
		case PG_QUERY__NODE__NODE_TYPE_NAME:
			textbuf_init(&sb);
			for (size_t i = 0; i < arg->type_name->n_names; i++)
			{
				const PgQuery__Node *n = arg->type_name->names[i];

				if (n->node_case != PG_QUERY__NODE__NODE_STRING)
				{
					textbuf_free(&sb);
					return NULL;
				}
				if (i > 0)
					textbuf_append_char(&sb, '.');
				textbuf_append(&sb, str_or_empty(n->string->sval));
			}
			return textbuf_detach(&sb);
		default:
			return NULL;
	}
}

static PgQuery__Node *
make_string_node(const char *value)
{
	PgQuery__Node   *node = xmalloc(sizeof(PgQuery__Node));
	PgQuery__String *s = xmalloc(sizeof(PgQuery__String));

	pg_query__node__init(node);
	pg_query__string__init(s);
	s->sval = xstrdup(value);
	node->node_case = PG_QUERY__NODE__NODE_STRING;
	node->string = s;
	return node;
}

/*
 * A key written as an expression that is a bare column, ((email)), is the
 * column: the server stores it so, and pg_get_indexdef() writes (email).
 */
static void
as_column(PgQuery__IndexElem *e)
{
	PgQuery__ColumnRef *ref;

	if (e->expr == NULL || e->expr->node_case != PG_QUERY__NODE__NODE_COLUMN_REF)
		return;
	ref = e->expr->column_ref;
	if (ref->n_fields != 1 || ref->fields[0]->node_case != PG_QUERY__NODE__NODE_STRING)
		return;
	replace_string(&e->name, str_or_empty(ref->fields[0]->string->sval));
	protobuf_c_message_free_unpacked(&e->expr->base, NULL);
	e->expr = NULL;
}

/*
 * A key's top-level COLLATE is the key's collation: the server strips it
 * so that (x COLLATE y) and x COLLATE y are one index (ComputeIndexAttrs),
 * and pg_get_indexdef() writes the latter.
 */
static void
collate_of_key(PgQuery__IndexElem *e)
{
	PgQuery__Node          *wrapper = e->expr;
	PgQuery__CollateClause *cc;

	if (wrapper == NULL || wrapper->node_case != PG_QUERY__NODE__NODE_COLLATE_CLAUSE || e->n_collation > 0)
		return;
	cc = wrapper->collate_clause;
	if (cc->arg == NULL)
		return;
	free(e->collation); /* an empty array, if any */
	e->collation = cc->collname;
	e->n_collation = cc->n_collname;
	e->expr = cc->arg;
	cc->collname = NULL;
	cc->n_collname = 0;
	cc->arg = NULL;
	protobuf_c_message_free_unpacked(&wrapper->base, NULL);
}

static void
normalise(PgQuery__IndexStmt *s, const char *schema, unsigned flags)
{
	PgQuery__RangeVar *rel = s->relation;

	replace_string(&s->idxname, "");
	replace_string(&s->table_space, "");
	s->concurrent = false;
	s->if_not_exists = false;

	rel->inh = true;
	replace_string(&rel->relpersistence, "p");
	if (schema != NULL && strcmp(str_or_empty(rel->schemaname), schema) == 0)
		replace_string(&rel->schemaname, "");
	if (flags & INDEX_SQL_IGNORE_RELATION)
	{
		replace_string(&rel->catalogname, "");
		replace_string(&rel->schemaname, "");
		replace_string(&rel->relname, "");
	}

	for (size_t i = 0; i < s->n_index_params; i++)
	{
		PgQuery__IndexElem *e;

		if (s->index_params[i]->node_case != PG_QUERY__NODE__NODE_INDEX_ELEM)
			continue;
		e = s->index_params[i]->index_elem;
		collate_of_key(e);
		as_column(e);
		/* ASC is the default order, NULLS LAST the default of ASC, FIRST of DESC */
		if (e->ordering == PG_QUERY__SORT_BY_DIR__SORTBY_ASC)
			e->ordering = PG_QUERY__SORT_BY_DIR__SORTBY_DEFAULT;
		if ((e->ordering == PG_QUERY__SORT_BY_DIR__SORTBY_DEFAULT &&
			 e->nulls_ordering == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST) ||
			(e->ordering == PG_QUERY__SORT_BY_DIR__SORTBY_DESC &&
			 e->nulls_ordering == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST))
			e->nulls_ordering = PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_DEFAULT;
	}

	for (size_t i = 0; i < s->n_options; i++)
	{
		PgQuery__DefElem *opt;
		char             *text;

		if (s->options[i]->node_case != PG_QUERY__NODE__NODE_DEF_ELEM)
			continue;
		opt = s->options[i]->def_elem;
		if (opt->arg == NULL || (text = option_value_text(opt->arg)) == NULL)
			continue;
		protobuf_c_message_free_unpacked(&opt->arg->base, NULL);
		opt->arg = make_string_node(text);
		free(text);
	}

	clear_locations(&s->base, 1);
}

/* The work of normalised_bytes(), for the parser's stack. */
typedef struct normalise_job
{
	const index_sql *def;
	const char      *schema;
	unsigned         flags;
	uint8_t         *out; /* out: the packed copy, NULL on failure */
	size_t           len; /* out: its length */
} normalise_job;

static void
normalise_on_stack(void *arg)
{
	normalise_job      *job = arg;
	size_t              len = protobuf_c_message_get_packed_size(&job->def->stmt->base);
	uint8_t            *buf = xmalloc(len);
	PgQuery__IndexStmt *copy;

	protobuf_c_message_pack(&job->def->stmt->base, buf);
	copy = pg_query__index_stmt__unpack(NULL, len, buf);
	free(buf);
	if (copy == NULL)
		return;
	normalise(copy, job->schema, job->flags);
	job->len = protobuf_c_message_get_packed_size(&copy->base);
	job->out = xmalloc(job->len);
	protobuf_c_message_pack(&copy->base, job->out);
	pg_query__index_stmt__free_unpacked(copy, NULL);
}

/*
 * A normalised copy of def's statement, packed; caller frees *out (NULL
 * when it could not be made).  protobuf-c's unpack and clear_locations()
 * recurse over the tree, so they run on the parser's stack, which holds a
 * tree of SQL_PARSE_MAX_DEPTH levels.
 */
static size_t
normalised_bytes(const index_sql *def, const char *schema, unsigned flags, uint8_t **out)
{
	normalise_job job = {def, schema, flags, NULL, 0};

	if (!sql_call_on_parser_stack(normalise_on_stack, &job))
		job.out = NULL;
	*out = job.out;
	return job.out != NULL ? job.len : 0;
}

bool
index_sql_equivalent(const index_sql *a, const index_sql *b, const char *schema, unsigned flags)
{
	uint8_t *ba;
	uint8_t *bb;
	size_t   la = normalised_bytes(a, schema, flags, &ba);
	size_t   lb = normalised_bytes(b, schema, flags, &bb);
	bool     same = ba != NULL && bb != NULL && la == lb && memcmp(ba, bb, la) == 0;

	free(ba);
	free(bb);
	return same;
}

/* ---- the server's spelling (index_respell.h) -------------------------------- */

/* A normalised copy of def's statement (free_unpacked). */
static PgQuery__IndexStmt *
normalised_copy(const index_sql *def, const char *schema, unsigned flags)
{
	size_t              len = protobuf_c_message_get_packed_size(&def->stmt->base);
	uint8_t            *buf = xmalloc(len);
	PgQuery__IndexStmt *copy;

	protobuf_c_message_pack(&def->stmt->base, buf);
	copy = pg_query__index_stmt__unpack(NULL, len, buf);
	free(buf);
	if (copy == NULL)
		return NULL;
	normalise(copy, schema, flags);
	return copy;
}

index_sql_match
index_sql_compare_server(const index_sql *file, const index_sql *server, const char *schema, unsigned flags,
						 const char **why)
{
	PgQuery__IndexStmt *a;
	PgQuery__IndexStmt *b;
	index_sql_match     m;

	*why = NULL;
	if (index_sql_equivalent(file, server, schema, flags))
		return INDEX_SQL_SAME;
	a = normalised_copy(file, schema, flags);
	b = normalised_copy(server, schema, flags);
	if (a == NULL || b == NULL)
	{
		*why = "could not copy a parse tree";
		m = INDEX_SQL_UNDECIDED;
	}
	else
		m = index_respell_compare(a, b, schema, why);
	if (a)
		pg_query__index_stmt__free_unpacked(a, NULL);
	if (b)
		pg_query__index_stmt__free_unpacked(b, NULL);
	return m;
}

void
index_sql_free(index_sql *def)
{
	if (def == NULL)
		return;
	sql_script_free(&def->script);
	free(def->source);
	free(def);
}
