/*-------------------------------------------------------------------------
 *
 * index_sql.h
 *	  One CREATE INDEX statement, read with PostgreSQL's own parser:
 *	  checked, re-targeted and compared.
 *
 * A definition is parsed once (libpg_query, via sqlparse.h) and kept as its
 * parse tree and its source text.  Three things are done with it:
 *
 * - check: is it exactly one CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT
 *   EXISTS statement creating a given index on a given table?  Decided on
 *   the parse tree, never by matching text.
 * - render: the same index under another name, on another relation, with
 *   or without CONCURRENTLY, IF NOT EXISTS and ONLY.  The head of the
 *   statement (up to and including the relation) is written here with every
 *   identifier quoted; everything after the relation (USING, the columns and
 *   expressions, INCLUDE, WITH, WHERE, ...) is the source text, byte for
 *   byte, so what runs is what the author wrote.
 * - compare: are two definitions the same index?  Both trees are normalised
 *   (fields that legitimately differ between a file and pg_get_indexdef()
 *   are cleared, see index_sql_equivalent) and packed; equal bytes mean
 *   equal definitions.
 *
 * Nothing here talks to a server or prints.
 *
 * indexer/index_sql.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_INDEX_SQL_H
#define TOOLKIT_INDEX_SQL_H

#include <stdbool.h>
#include <stddef.h>

/* PostgreSQL's NAMEDATALEN - 1: the longest identifier the server keeps */
#define INDEX_SQL_MAX_IDENT 63

/* A parsed CREATE INDEX statement; opaque. */
typedef struct index_sql index_sql;

/* What the statement says, as the parser read it.  Strings are never NULL. */
typedef struct index_sql_info
{
	const char *name;          /* index name; "" when the statement has none */
	const char *catalog;       /* database of the relation: "" unless db.schema.table */
	const char *schema;        /* schema of the relation; "" if unqualified */
	const char *table;         /* relation name */
	const char *access_method; /* "btree" when USING is absent */
	bool        unique;
	bool        concurrent;
	bool        if_not_exists;
	bool        only;            /* ON ONLY */
	bool        has_expressions; /* some key column is an expression */
	bool        has_predicate;   /* partial index: WHERE ... */
} index_sql_info;

/* Where to point a rendered statement, and how. */
typedef struct index_sql_target
{
	const char *name;   /* index name; NULL keeps the statement's */
	const char *schema; /* NULL keeps the statement's; "" unqualified */
	const char *table;  /* NULL keeps the statement's relation name */
	bool        concurrent;
	bool        if_not_exists;
	bool        only;
} index_sql_target;

/* index_sql_equivalent flags */
#define INDEX_SQL_IGNORE_RELATION 0x1 /* compare what is indexed, not where */

/*
 * Parse sql, which must be exactly one CREATE INDEX statement.  Returns the
 * definition (free with index_sql_free), or NULL with a one-line reason in
 * *why (caller frees), e.g. "syntax error at or near \"ON\" (line 1, column
 * 40)", "2 statements; exactly one CREATE INDEX statement is allowed",
 * "not a CREATE INDEX statement (CreateStmt)".  Never prints.
 */
index_sql *index_sql_parse(const char *sql, char **why);

/* What the statement says; valid as long as def lives. */
const index_sql_info *index_sql_get_info(const index_sql *def);

/*
 * The checks a definition file imposes: the statement is CREATE [UNIQUE]
 * INDEX CONCURRENTLY IF NOT EXISTS, creates exactly the index name (as the
 * parser folds it) on the relation table, not ON ONLY, and, when it
 * qualifies the relation, in schema.  Returns true, or false with the first
 * problem as a one-line reason in *why (caller frees).
 */
bool index_sql_check_definition(const index_sql *def, const char *name, const char *schema, const char *table,
								char **why);

/*
 * The statement re-targeted as described by target (see the header
 * comment).  Always succeeds; caller frees.
 */
char *index_sql_render(const index_sql *def, const index_sql_target *target);

/*
 * Whether a and b define the same index.  Before comparing, both trees are
 * normalised: the index name, CONCURRENTLY, IF NOT EXISTS, ONLY, TABLESPACE
 * (pg_get_indexdef() never prints it) and every source location are
 * cleared; the relation's schema is cleared when it equals schema (a
 * file may leave it out, pg_get_indexdef() always prints it); ASC and the
 * default NULLS order of a column are made implicit; and WITH (...) values
 * are compared as the text the server stores ("70" whether written 70 or
 * '70').  With INDEX_SQL_IGNORE_RELATION the relation is cleared too.
 *
 * Expressions and predicates are compared as parsed: the server adds casts
 * and parentheses to them (lower(email) comes back as lower((email)::text)
 * for a varchar column), so a difference there may be only spelling; a
 * caller that must know builds the file's index on a scratch copy of the
 * table and compares pg_get_indexdef() with pg_get_indexdef().
 */
bool index_sql_equivalent(const index_sql *a, const index_sql *b, const char *schema, unsigned flags);

/* What index_sql_compare_server() found. */
typedef enum index_sql_match
{
	INDEX_SQL_SAME,
	INDEX_SQL_DIFFERENT,
	INDEX_SQL_UNDECIDED /* the trees differ where the server's spelling is not known */
} index_sql_match;

/*
 * Whether file (a definition) and server (pg_get_indexdef() of an index)
 * define the same index, offline.  First as index_sql_equivalent(); then
 * both normalised trees are taken to one spelling side by side
 * (index_respell.h: the casts the server adds to arguments, IN (...) as
 * = ANY (ARRAY[...]), LIKE and ILIKE as their operators, and the names the
 * server qualifies, never a qualifier the file wrote).  Equal:
 * INDEX_SQL_SAME.  Different, and every node is one whose spelling is known
 * (columns, numbers, plain function calls and operators, AND/OR/NOT,
 * IS [NOT] NULL, casts, arrays, COALESCE): INDEX_SQL_DIFFERENT.  Otherwise
 * INDEX_SQL_UNDECIDED with a static reason in *why (a string constant,
 * BETWEEN, a cast only the file writes, ...).
 */
index_sql_match index_sql_compare_server(const index_sql *file, const index_sql *server, const char *schema,
										 unsigned flags, const char **why);

/*
 * The source after the relation, as index_sql_render() reuses it (USING,
 * the columns, INCLUDE, WITH, WHERE ...): *len bytes, not NUL-terminated
 * there; *len is 0 when nothing follows.  Valid as long as def lives.
 */
const char *index_sql_tail(const index_sql *def, size_t *len);

/*
 * The key columns, then the INCLUDE columns, in order: names[i] is the
 * column's name, or NULL for an expression.  Fills at most max; returns
 * the count there is (which may exceed max).  Valid as long as def lives.
 */
int index_sql_columns(const index_sql *def, const char **names, int max);

/* Accepts NULL. */
void index_sql_free(index_sql *def);

#endif /* TOOLKIT_INDEX_SQL_H */
