/*-------------------------------------------------------------------------
 *
 * sqlwalk.h
 *	  Walking libpg_query parse trees, and the relations a statement names.
 *
 * The protobuf-c descriptors describe every node type, so one generic
 * walker visits every message below a node (only the set member of a
 * oneof), without a hand-written case per node type that would fall behind
 * the grammar.
 *
 * common/sqlwalk.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_SQLWALK_H
#define TOOLKIT_SQLWALK_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

#include "sqlparse.h"

/*
 * Called for every message, parents before children.  Return false to skip
 * the message's children.
 */
typedef bool (*sql_walk_fn)(const ProtobufCMessage *msg, void *arg);

/*
 * Visit root and everything below it; root may be NULL.  Recursive, with
 * its depth bounded: nothing deeper than SQL_PARSE_MAX_DEPTH levels below
 * root is visited (no tree from sql_parse_script() is that deep, so this
 * only guards the stack against a tree built elsewhere).
 */
void sql_walk(const ProtobufCMessage *root, sql_walk_fn fn, void *arg);

typedef struct sql_relation
{
	char *schema; /* "" when unqualified */
	char *name;
} sql_relation;

typedef struct sql_relation_list
{
	sql_relation *items;
	int           n;
	int           cap; /* allocated length of items */
} sql_relation_list;

/*
 * Add the relations statement stmt_index of script names (every RangeVar,
 * and the objects of DROP TABLE/VIEW/INDEX/SEQUENCE) to *out, without
 * duplicates.  *out must be zeroed or hold earlier results.
 */
void sql_statement_relations(const sql_script *script, int stmt_index, sql_relation_list *out);

void sql_relation_list_free(sql_relation_list *list);

#endif /* TOOLKIT_SQLWALK_H */
