/*-------------------------------------------------------------------------
 *
 * index_respell.c
 *	  A definition's parse tree against pg_get_indexdef()'s, taken to one
 *	  spelling side by side (see index_respell.h).
 *
 * Both trees are walked together through protobuf-c's descriptors: where
 * they have the same shape, each pair of nodes is respelled with what the
 * other side says; where the shapes part, nothing below is touched, and
 * the packed comparison at the end finds the difference.  A string
 * replaced here is a fresh allocation or a node freed with
 * protobuf_c_message_free_unpacked(): the caller's free_unpacked()
 * releases the rest.
 *
 * indexer/index_respell.c
 *
 *-------------------------------------------------------------------------
 */
#include "index_respell.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "pg_volatile_functions.h"
#include "sqlparse.h"

typedef struct respell_state
{
	const char *schema;  /* the definition's, or NULL */
	const char *why;     /* set when a difference may be only spelling */
	bool        differs; /* a difference that is never spelling: two casts to two types */
} respell_state;

static const char *
str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static bool
is_node_field(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_MESSAGE && f->descriptor == &pg_query__node__descriptor;
}

/*
 * The places where the server coerces an argument to the type its
 * function or operator takes, and pg_get_indexdef() writes the cast it
 * added.  Anywhere else (a key expression of its own, a predicate) a cast
 * is the author's: ((flag)::text) is not (flag).
 */
static const struct
{
	const ProtobufCMessageDescriptor *message;
	const char                       *field;
} coerced_arguments[] = {
	{&pg_query__func_call__descriptor, "args"},     {&pg_query__a__expr__descriptor, "lexpr"},
	{&pg_query__a__expr__descriptor, "rexpr"},      {&pg_query__a__array_expr__descriptor, "elements"},
	{&pg_query__coalesce_expr__descriptor, "args"},
};

static bool
is_coerced_argument(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
	for (size_t i = 0; i < sizeof(coerced_arguments) / sizeof(coerced_arguments[0]); i++)
		if (coerced_arguments[i].message == d && strcmp(coerced_arguments[i].field, f->name) == 0)
			return true;
	return false;
}

static bool
is_simple_cast(const PgQuery__Node *n)
{
	return n != NULL && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && n->type_cast->arg != NULL &&
		   (n->type_cast->arg->node_case == PG_QUERY__NODE__NODE_COLUMN_REF ||
			n->type_cast->arg->node_case == PG_QUERY__NODE__NODE_A_CONST);
}

/* Two nodes in one slot: drop the casts only the server shows, where it adds them. */
static void
align_casts(PgQuery__Node **file, PgQuery__Node **server, bool coerced, respell_state *rs)
{
	if (is_simple_cast(*file))
	{
		if ((*server)->node_case != PG_QUERY__NODE__NODE_TYPE_CAST)
			rs->why = "a cast that the file writes and the database's definition does not show (the server "
					  "leaves out a cast to the type the value has)";
		return;
	}
	while (coerced && is_simple_cast(*server))
	{
		PgQuery__Node *arg = (*server)->type_cast->arg;

		(*server)->type_cast->arg = NULL;
		protobuf_c_message_free_unpacked(&(*server)->base, NULL);
		*server = arg;
	}
}

static bool
qualified_by(size_t n, PgQuery__Node **items, const char *schema)
{
	return n == 2 && schema != NULL && items[0]->node_case == PG_QUERY__NODE__NODE_STRING &&
		   strcmp(str_or_empty(items[0]->string->sval), schema) == 0;
}

static void
drop_first(size_t *n, PgQuery__Node ***items)
{
	protobuf_c_message_free_unpacked(&(*items)[0]->base, NULL);
	memmove(&(*items)[0], &(*items)[1], sizeof(PgQuery__Node *) * (*n - 1));
	(*n)--;
}

/* What a name names: whether a role without superuser can plant one in a schema. */
typedef enum name_kind
{
	NAME_FUNCTION,
	NAME_OPERATOR,
	NAME_TYPE,
	NAME_COLLATION,
	NAME_OPCLASS /* CREATE OPERATOR CLASS needs a superuser */
} name_kind;

/*
 * May the file's unqualified name be the server's "<schema>.name"?  The
 * build resolves it with pg_catalog first: an object of the schema wins
 * only where pg_catalog has none of that name, or none that fits as well.
 * So a name pg_catalog also has (lower, =, int8, "C") may be either, and
 * the index may call what a role with CREATE on the schema planted: not
 * decided here (second review of session 12: public.lower(text) passed
 * for the file's lower(email)).  A function name that pg_catalog does not
 * have, and an operator class (only a superuser makes one), are the
 * schema's.
 */
static bool
resolves_to_schema(name_kind kind, const char *name, respell_state *rs)
{
	if (kind == NAME_OPCLASS ||
		(kind == NAME_FUNCTION && pg_builtin_function_volatility(name) == PG_FUNC_UNKNOWN))
		return true;
	rs->why = "a name the file leaves unqualified and the database's definition qualifies with the schema, "
			  "which may shadow pg_catalog's object of that name (qualify it in the file, as the database "
			  "has it)";
	return false;
}

/*
 * pg_catalog's default operator classes of the common types' btree, hash
 * and GIN indexes, which pg_get_indexdef() leaves out: named in the file,
 * they may be only spelling.  Any other one (text_pattern_ops,
 * jsonb_path_ops, ...) missing on the server is a difference.
 */
static const char *const default_opclasses[] = {
	"array_ops",  "bool_ops",      "bpchar_ops",      "bytea_ops",   "char_ops", "date_ops",  "enum_ops",
	"float4_ops", "float8_ops",    "inet_ops",        "int2_ops",    "int4_ops", "int8_ops",  "interval_ops",
	"jsonb_ops",  "macaddr_ops",   "name_ops",        "numeric_ops", "oid_ops",  "range_ops", "text_ops",
	"time_ops",   "timestamp_ops", "timestamptz_ops", "timetz_ops",  "uuid_ops",
};

static bool
names_a_default_opclass(size_t n, PgQuery__Node **items)
{
	const PgQuery__Node *last = items[n - 1];

	if (last->node_case != PG_QUERY__NODE__NODE_STRING)
		return false;
	for (size_t i = 0; i < sizeof(default_opclasses) / sizeof(default_opclasses[0]); i++)
		if (strcmp(str_or_empty(last->string->sval), default_opclasses[i]) == 0)
			return true;
	return false;
}

/*
 * A name of the file (fn, fitems) and the server's in its place: both
 * lose "pg_catalog."; the server's loses "<schema>." where the file's name
 * is unqualified and can only mean the schema's (resolves_to_schema).
 */
static void
respell_names(size_t *fn, PgQuery__Node ***fitems, size_t *sn, PgQuery__Node ***sitems, name_kind kind,
			  respell_state *rs)
{
	bool file_unqualified = *fn == 1;

	if (kind == NAME_OPCLASS && *fn > 0 && *sn == 0 && names_a_default_opclass(*fn, *fitems))
		rs->why = "an operator class that the file names and the database's definition does not show (the "
				  "server leaves out the default one)";
	if (qualified_by(*fn, *fitems, "pg_catalog"))
		drop_first(fn, fitems);
	if (qualified_by(*sn, *sitems, "pg_catalog"))
		drop_first(sn, sitems);
	else if (file_unqualified && qualified_by(*sn, *sitems, rs->schema) &&
			 (*fitems)[0]->node_case == PG_QUERY__NODE__NODE_STRING &&
			 resolves_to_schema(kind, str_or_empty((*fitems)[0]->string->sval), rs))
		drop_first(sn, sitems);
}

/* a IN (x, y) as a = ANY (ARRAY[x, y]); a NOT IN as a <> ALL (...); LIKE as ~~ */
static void
respell_a_expr(PgQuery__AExpr *e)
{
	if (e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_LIKE || e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE)
		e->kind = PG_QUERY__A__EXPR__KIND__AEXPR_OP;
	else if (e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_IN && e->rexpr != NULL &&
			 e->rexpr->node_case == PG_QUERY__NODE__NODE_LIST)
	{
		PgQuery__List       *list = e->rexpr->list;
		PgQuery__AArrayExpr *arr = xmalloc(sizeof(PgQuery__AArrayExpr));
		bool                 eq = e->n_name == 1 && e->name[0]->node_case == PG_QUERY__NODE__NODE_STRING &&
				  strcmp(str_or_empty(e->name[0]->string->sval), "=") == 0;

		pg_query__a__array_expr__init(arr);
		arr->n_elements = list->n_items;
		arr->elements = list->items;
		list->n_items = 0;
		list->items = NULL;
		protobuf_c_message_free_unpacked(&list->base, NULL);
		e->rexpr->node_case = PG_QUERY__NODE__NODE_A_ARRAY_EXPR;
		e->rexpr->a_array_expr = arr;
		e->kind = eq ? PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY : PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL;
	}
}

/* The names of one pair of messages of the same kind. */
static void
respell_node(ProtobufCMessage *f, ProtobufCMessage *s, respell_state *rs)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;

#define NAMES(type, n, items) &((type *) f)->n, &((type *) f)->items, &((type *) s)->n, &((type *) s)->items
	if (d == &pg_query__a__expr__descriptor)
	{
		respell_a_expr((PgQuery__AExpr *) f);
		respell_a_expr((PgQuery__AExpr *) s);
		respell_names(NAMES(PgQuery__AExpr, n_name, name), NAME_OPERATOR, rs);
	}
	else if (d == &pg_query__func_call__descriptor)
		respell_names(NAMES(PgQuery__FuncCall, n_funcname, funcname), NAME_FUNCTION, rs);
	else if (d == &pg_query__type_name__descriptor)
		respell_names(NAMES(PgQuery__TypeName, n_names, names), NAME_TYPE, rs);
	else if (d == &pg_query__collate_clause__descriptor)
		respell_names(NAMES(PgQuery__CollateClause, n_collname, collname), NAME_COLLATION, rs);
	else if (d == &pg_query__index_elem__descriptor)
	{
		respell_names(NAMES(PgQuery__IndexElem, n_opclass, opclass), NAME_OPCLASS, rs);
		respell_names(NAMES(PgQuery__IndexElem, n_collation, collation), NAME_COLLATION, rs);
	}
#undef NAMES
}

static void respell_pair(ProtobufCMessage *f, ProtobufCMessage *s, respell_state *rs, int depth);
static bool same_message(const ProtobufCMessage *a, const ProtobufCMessage *b);

/* One pair of members (slots) of the same field. */
static void
respell_slot(ProtobufCMessage **f, ProtobufCMessage **s, const ProtobufCMessageDescriptor *d,
			 const ProtobufCFieldDescriptor *field, respell_state *rs, int depth)
{
	PgQuery__Node *fn;
	PgQuery__Node *sn;

	if (*f == NULL || *s == NULL)
		return;
	if (is_node_field(field))
		align_casts((PgQuery__Node **) f, (PgQuery__Node **) s, is_coerced_argument(d, field), rs);
	respell_pair(*f, *s, rs, depth + 1);
	if (!is_node_field(field))
		return;
	fn = (PgQuery__Node *) *f;
	sn = (PgQuery__Node *) *s;
	/* the file's cast and the server's, both respelled: two types are two indexes */
	if (fn->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && sn->node_case == PG_QUERY__NODE__NODE_TYPE_CAST &&
		fn->type_cast->type_name != NULL && sn->type_cast->type_name != NULL &&
		!same_message(&fn->type_cast->type_name->base, &sn->type_cast->type_name->base))
		rs->differs = true;
}

/* f and s, and everything below them where their shapes agree. */
static void
respell_pair(ProtobufCMessage *f, ProtobufCMessage *s, respell_state *rs, int depth)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;

	if (s->descriptor != d || depth > SQL_PARSE_MAX_DEPTH)
		return;
	respell_node(f, s, rs);
	for (unsigned i = 0; i < d->n_fields; i++)
	{
		const ProtobufCFieldDescriptor *field = &d->fields[i];
		char                           *fm = (char *) f + field->offset;
		char                           *sm = (char *) s + field->offset;

		if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		{
			uint32_t fcase = *(uint32_t *) ((char *) f + field->quantifier_offset);

			if (fcase != field->id || *(uint32_t *) ((char *) s + field->quantifier_offset) != fcase)
				continue;
		}
		if (field->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (field->label == PROTOBUF_C_LABEL_REPEATED)
		{
			size_t             n = *(size_t *) ((char *) f + field->quantifier_offset);
			ProtobufCMessage **fi = *(ProtobufCMessage ***) fm;
			ProtobufCMessage **si = *(ProtobufCMessage ***) sm;

			if (n != *(size_t *) ((char *) s + field->quantifier_offset))
				continue;
			for (size_t k = 0; k < n; k++)
				respell_slot(&fi[k], &si[k], d, field, rs, depth);
		}
		else
			respell_slot((ProtobufCMessage **) fm, (ProtobufCMessage **) sm, d, field, rs, depth);
	}
}

/*
 * Why a difference that survives the respelling may still be only
 * spelling, or NULL when every node below msg is one whose spelling is
 * known: a string constant (the server rewrites typed literals:
 * '2020-01-01' may come back as '2020-01-01 00:00:00'::timestamp without
 * time zone) or an expression kind not listed here.
 */
static const char *
unknown_spelling(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	if (d == &pg_query__a__const__descriptor)
	{
		const PgQuery__AConst *c = (const PgQuery__AConst *) msg;

		return c->val_case == PG_QUERY__A__CONST__VAL_SVAL || c->val_case == PG_QUERY__A__CONST__VAL_BSVAL
				   ? "a string constant, which the server may write differently"
				   : NULL;
	}
	if (d == &pg_query__a__expr__descriptor)
	{
		PgQuery__AExprKind k = ((const PgQuery__AExpr *) msg)->kind;

		if (k != PG_QUERY__A__EXPR__KIND__AEXPR_OP && k != PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY &&
			k != PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL && k != PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT &&
			k != PG_QUERY__A__EXPR__KIND__AEXPR_NOT_DISTINCT)
			return "an operator form (BETWEEN, SIMILAR TO, ...) that the server writes differently";
	}
	else if (d == &pg_query__func_call__descriptor)
	{
		const PgQuery__FuncCall *fc = (const PgQuery__FuncCall *) msg;

		if (fc->n_agg_order > 0 || fc->agg_filter || fc->over || fc->agg_star || fc->agg_distinct ||
			fc->func_variadic)
			return "a function call form that the server may write differently";
	}
	else if (d != &pg_query__node__descriptor && d != &pg_query__index_stmt__descriptor &&
			 d != &pg_query__index_elem__descriptor && d != &pg_query__range_var__descriptor &&
			 d != &pg_query__column_ref__descriptor && d != &pg_query__string__descriptor &&
			 d != &pg_query__integer__descriptor && d != &pg_query__float__descriptor &&
			 d != &pg_query__boolean__descriptor && d != &pg_query__bool_expr__descriptor &&
			 d != &pg_query__null_test__descriptor && d != &pg_query__boolean_test__descriptor &&
			 d != &pg_query__type_cast__descriptor && d != &pg_query__type_name__descriptor &&
			 d != &pg_query__a__array_expr__descriptor && d != &pg_query__coalesce_expr__descriptor &&
			 d != &pg_query__collate_clause__descriptor && d != &pg_query__def_elem__descriptor)
		return "an expression form that the server may write differently";

	for (unsigned i = 0; i < d->n_fields; i++)
	{
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char                     *member = (const char *) msg + f->offset;
		const char                     *why;

		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			*(const uint32_t *) ((const char *) msg + f->quantifier_offset) != f->id)
			continue;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
		{
			size_t                   n = *(const size_t *) ((const char *) msg + f->quantifier_offset);
			ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *) member;

			for (size_t k = 0; k < n; k++)
				if (items[k] != NULL && (why = unknown_spelling(items[k])) != NULL)
					return why;
		}
		else if (*(ProtobufCMessage *const *) member != NULL &&
				 (why = unknown_spelling(*(ProtobufCMessage *const *) member)) != NULL)
			return why;
	}
	return NULL;
}

static bool
same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t   la = protobuf_c_message_get_packed_size(a);
	size_t   lb = protobuf_c_message_get_packed_size(b);
	uint8_t *ba = xmalloc(la + 1);
	uint8_t *bb = xmalloc(lb + 1);
	bool     same;

	protobuf_c_message_pack(a, ba);
	protobuf_c_message_pack(b, bb);
	same = la == lb && memcmp(ba, bb, la) == 0;
	free(ba);
	free(bb);
	return same;
}

index_sql_match
index_respell_compare(PgQuery__IndexStmt *file, PgQuery__IndexStmt *server, const char *schema,
					  const char **why)
{
	respell_state rs = {schema, NULL, false};

	*why = NULL;
	respell_pair(&file->base, &server->base, &rs, 1);
	if (same_message(&file->base, &server->base))
		return INDEX_SQL_SAME;
	if (rs.differs)
		return INDEX_SQL_DIFFERENT;
	if ((*why = rs.why) != NULL || (*why = unknown_spelling(&file->base)) != NULL ||
		(*why = unknown_spelling(&server->base)) != NULL)
		return INDEX_SQL_UNDECIDED;
	return INDEX_SQL_DIFFERENT;
}
