/*-------------------------------------------------------------------------
 *
 * skipped_object.h
 *	  CREATE ... IF NOT EXISTS must not adopt another role's object.
 *
 * When the server skips a CREATE ... IF NOT EXISTS ("already exists,
 * skipping"), the object of that name is whatever was there: possibly a
 * table with a trigger that a role with CREATE on the schema made first,
 * or an index of that name on another table.  The migration then "applies"
 * over a schema that is not what the file asks for (the class PostgreSQL
 * closed for extension scripts in CVE-2020-14350).  Every kind that can
 * skip is checked (skipped_object.c has the table): a skipped relation,
 * schema, collation, statistics object, extension or foreign server is
 * accepted only when the current role owns it (an extension: or a
 * superuser) and, for an index or a statistics object, when it is on the
 * statement's table; a skipped ADD COLUMN or ADD VALUE, when the table or
 * type is the current role's.  CREATE OR REPLACE FUNCTION keeps the
 * existing function's owner, so a function of that name owned by another
 * role (not a superuser) is refused too.
 *
 * migrator/skipped_object.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SKIPPED_OBJECT_H
#define SKIPPED_OBJECT_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "migration_files.h"
#include "pgerr.h"

/* Does sqlstate (of a NOTICE) say that a CREATE ... IF NOT EXISTS skipped? */
bool skipped_object_notice(const char *sqlstate);

/* Is st a CREATE FUNCTION/PROCEDURE (checked after it ran, skipped or not)? */
bool skipped_object_replaces(const sql_statement *st);

/*
 * May statement st of m skip (an IF NOT EXISTS of a kind checked here)?
 * The skip is known only by its notice, which client_min_messages above
 * NOTICE hides (a database's, a role's, or the migration's own SET LOCAL):
 * such a statement runs on its own, right after a set_config that brings
 * the notices back (apply_run_statement), never in a pipeline.
 */
bool skipped_object_may_skip(const migration *m, const sql_statement *st);

/*
 * Check the object that statement st of m skipped (or replaced: CREATE OR
 * REPLACE FUNCTION), over conn, which is in
 * the migration's transaction (or in autocommit) with search_path = schema;
 * the query itself runs with pg_catalog only and puts the schema back (the
 * caller's pin: restore with restore_schema).  Returns true when the object
 * is the current role's (or the statement is of a kind not checked);
 * otherwise false with err saying which object, whose, and why.
 */
bool skipped_object_check(PGconn *conn, const migration *m, const sql_statement *st, const char *schema,
						  db_error *err);

#endif /* SKIPPED_OBJECT_H */
