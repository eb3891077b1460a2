/*-------------------------------------------------------------------------
 *
 * relation_trust.h
 *	  Refuse to write (or read) a table that another role could have
 *	  armed.
 *
 * A role that may create objects in the target schema can create the
 * history table itself before the first run, with a trigger, a rule or a
 * row-level security policy whose function then runs with the privileges of
 * whoever writes or reads the table: the migrator's role.  The search_path
 * cannot help there.  So a table the tools write must be owned by the
 * current role (the one after --role), be a plain table (a view's
 * functions run with the reader's privileges: a view of the schema's owner
 * is refused to readers too) and carry no trigger, rule, policy,
 * row-level security or inheritance, no index or statistics object with
 * an expression or a predicate (planning a read folds their calls with
 * constant arguments, a function's IMMUTABLE label being its owner's
 * word) and no column of a type that is not PostgreSQL's own (a cast from
 * or to a type is its owner's function, and a read applies casts, implicit
 * ones too); and no other role may hold TRIGGER on it, since only the
 * owner can add rules and policies.  The owner of the
 * schema, though, may drop the table and put an armed one of its own in
 * its place at any time: a writer that writes long after this check must
 * check again in the write's transaction, under a lock (indexer/record.c,
 * migrator/history.h's guard_sql), and pin the write itself to the table
 * the check trusted (relation_trust_pin_sql: renaming schemas moves a
 * name without any lock).
 *
 * common/relation_trust.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_RELATION_TRUST_H
#define TOOLKIT_RELATION_TRUST_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "copy_rows.h"

/*
 * Check schema.rel; with oid not NULL, *oid is the relation judged (0
 * when absent or refused).  A run that only reads it (read_only: check, status,
 * plan) also trusts a table owned by a role the current role is a member
 * of, by the schema's owner or by a superuser, so that a start-up gate can
 * run as the application's role: reading runs no trigger or rule, and the
 * rest (policies, TRIGGER grants) is refused as for writers.  Returns EXIT_OK when it does not exist or is safe;
 * EXIT_USAGE after logging one error line saying what is wrong and what to
 * do (display names the table in it); EXIT_UNREACHABLE when the catalog
 * query failed.  Reads only the catalogs: nothing of the table runs.
 */
int relation_trust_check(PGconn *conn, const char *schema, const char *rel, const char *display,
						 bool read_only, unsigned int *oid);

/*
 * relation_trust_check in two halves, for a batch (pipeline.h): a first
 * look at the catalogs and its three parameters (filled into values), then
 * the verdict on its result, with relation_trust_check's return values and
 * error line.  The first look clears a relation only where every check
 * below would; when it cannot (a flag a dropped trigger left set, any
 * grant, another owner), the verdict runs the full check on conn: one more
 * round trip, and EXIT_UNREACHABLE when that query fails.
 * relation_trust_check is both halves on its own.
 */
const char *relation_trust_query(const char *schema, const char *rel, bool read_only, const char *values[3]);
int relation_trust_judge(PGconn *conn, const PGresult *first_look, const char *schema, const char *rel,
						 const char *display, bool read_only, unsigned int *oid);

/*
 * Writes pinned to the relation a verdict trusted: the schema's owner can
 * point the name at another table of its own at any moment, by renaming
 * schemas (ALTER SCHEMA ... RENAME locks no table), and a write resolves
 * the name again.  A condition for the write's own statement (its WHERE, or
 * the WHERE of its INSERT's SELECT) that fails it, with message, unless
 * qualified (the quoted name, as the statement names its target) stands
 * for oid, judged when the statement is planned: the name in it and the
 * statement's target are resolved in the same parse analysis, and the
 * planner folds the check before anything runs, statement triggers
 * included.  NULL when quoting failed; caller frees.
 */
char *relation_trust_pin_sql(PGconn *conn, const char *qualified, unsigned int oid, const char *message);

/* The pin of a write made before any verdict: it fails the write when planned. */
#define RELATION_TRUST_NO_PIN                                                                                \
	"(pg_catalog.int4in('no check trusted the history table before this write'::pg_catalog.cstring) "        \
	"OPERATOR(pg_catalog.=) 0)"

/* A table to read, for relation_trust_copy. */
typedef struct relation_ref
{
	const char *qualified; /* its quoted, schema-qualified name */
	const char *schema;
	const char *rel;
	const char *display; /* how errors name it */
	bool        read_only;
} relation_ref;

/*
 * A read that is never planned, for readers of a table of another role:
 * planning a query over a table evaluates what that role can attach to it
 * and still pass the verdict (an index or statistics object created with
 * the table's SHARE lock, compatible with the read's, between the verdict
 * and the planning; a reader cannot take a lock that excludes it).  So
 * one transaction: the table's ACCESS SHARE lock and relation_trust_check's
 * verdict under it (ref->read_only as there), then COPY of the table's
 * columns (a list of quoted names) TO STDOUT, a plain scan, a check that
 * the name still stands for the relation judged and its schema's row is
 * the version the verdict saw (a rename there and back while the copy
 * waited), and COMMIT, the last three in one round trip.  The rows into
 * rows (initialised by the caller with the column count; the caller frees
 * them), in no particular order, dates in ISO form and UTC.  EXIT_OK with
 * the rows; otherwise relation_trust_check's return values (a table that
 * is gone fails the lock: EXIT_UNREACHABLE), EXIT_USAGE when the check
 * after the copy failed, or EXIT_UNREACHABLE when the copy or the COMMIT
 * failed (logged), the transaction ended either way.
 */
int relation_trust_copy(PGconn *conn, const relation_ref *ref, const char *columns, copy_rows *rows);

/*
 * The writers' verdict as one statement of the write's own transaction
 * (the schema's owner may swap the table after the check, above), run
 * right after relation_trust_lock_sql's LOCK TABLE in that transaction
 * (ROW EXCLUSIVE, the write's own lock, on the relation the quoted name
 * stands for now, so that a DROP, and every CREATE TRIGGER, RULE or
 * POLICY, waits for the transaction: a weaker lock let a trigger be
 * created between the verdict and the write; LOCK runs nothing of a view,
 * where a query naming it would be planned): it fails with the text of
 * message unless schema.rel still names oid, the relation the start-up
 * verdict trusted (and every write is pinned to), view (when not NULL) is
 * still the view relation_trust_view_make made and checked (below), and
 * oid still passes
 * relation_trust_check's writers' verdict, read first from pg_class's own flags for what another role
 * could have added since (a trigger, a rule, row-level security, a child
 * table, a TRIGGER grant, another owner), and from the full catalog query
 * of schema.rel when a flag is set.  It has no parameters: schema, rel,
 * oid and message are written into it as literals (escaped for conn's
 * server), so that a prepared guard is planned once.  NULL when escaping
 * failed.  Caller frees both.  LOCK TABLE needs a transaction block, and
 * the table-level privileges a writer has on its own table.
 */
struct relation_view;
char *relation_trust_guard_sql(PGconn *conn, const char *schema, const char *rel, unsigned int oid,
							   const struct relation_view *view, const char *message);
char *relation_trust_lock_sql(const char *qualified);

/*
 * Writes by OID, not by name.  Every statement resolves a name again, and
 * the pin cannot close that: an INSERT's target and the pin's name are
 * looked up at two moments of one parse analysis, and a rename committed
 * between them (each lock taken in between reads the invalidations) had
 * the write planned over the schema owner's table, whose IMMUTABLE column
 * default then ran as this run's role before the pin failed the write
 * (1 to 3 times in about a thousand runs under a loop of renames).  A view
 * stores the OIDs of what it reads, and an auto-updatable view's write is
 * rewritten to its table by that OID; LOCK TABLE of a view locks what it
 * reads by OID as well.  So a writer that may create temporary objects
 * writes through a temporary view of the trusted table, in its session's
 * own temporary schema, where no other role can create, rename or alter
 * anything (it belongs to the bootstrap superuser).
 *
 * relation_trust_view_make: CREATE OR REPLACE TEMPORARY VIEW pg_temp.view
 * AS SELECT * FROM qualified, then, in the same implicit transaction (call
 * it outside any transaction block), a check that the view reads oid and
 * nothing else (the CREATE resolved the name like any statement: a failed
 * check is 22P02 with message, and the view is gone with the transaction),
 * and *out: the view's OID and its rule's row version, which the guard
 * (relation_trust_guard_sql with view) then checks cheaply before every
 * write.  False with err filled otherwise (no TEMPORARY privilege, an event
 * trigger that refuses views, a lost connection).  DISCARD ALL and the end
 * of the session drop the view.
 * relation_trust_view_target: the view's name in SQL, pg_temp-qualified
 * (a view name with a space in it shadows no unquoted name of a
 * migration's); caller frees.
 * RELATION_TRUST_TEMP_SQL: may the current role create it (TEMPORARY on the
 * database, and LOCK TABLE of a view locks its tables: PostgreSQL 11)?
 * Without it, the writes name the table: the race stays.
 */
typedef struct relation_view
{
	unsigned int oid;
	char         rule_xmin[16];
} relation_view;
struct db_error;
bool  relation_trust_view_make(PGconn *conn, const char *view, const char *qualified, unsigned int oid,
							   const char *message, relation_view *out, struct db_error *err);
char *relation_trust_view_target(const char *view);

/*
 * Drop the view (its target, as relation_trust_view_target gives it) at the
 * end of a run that made it, on an idle connection that still answers.  The
 * end of the session would drop it too, but a backend clears its temporary
 * objects a moment after its client has gone, and until then a plain DROP
 * TABLE of the history table fails on the view.  A failure is logged at
 * debug level only: the session's end removes the view anyway.
 */
void relation_trust_view_drop(PGconn *conn, const char *view_target);

/*
 * May a writer whose first view failed with err write by name instead?
 * Only when the server refused views to this role: no privilege (42501:
 * TEMPORARY revoked since the start), an event trigger of a superuser
 * that raised (P0001), or a read-only transaction (25006: the database's
 * or the role's default, which the schema's owner cannot set; the
 * migration then fails on its own first statement, as it would have).  Anything else, a name that resolved to nothing or
 * to a relation no view can read included, is what a schema's owner can
 * cause by renaming at the right moment, and falling back would hand it
 * the race the view closes: the write fails.
 */
bool relation_trust_view_refused(const struct db_error *err);
/*
 * For a writer that cannot write through the view: warn, once, when roles
 * other than the current one and the superusers could rename schema (its
 * owner or a member of the owner role, with CREATE on the database, to make
 * the schema the name is moved to): such a role can point the name of
 * the table (display, for the message) at a table of its own at any
 * moment.  One query, asked only then (its plan costs a no-op run a few
 * milliseconds); a query that fails says nothing here (db_query logs it).
 */
void relation_trust_warn_if_renamable(PGconn *conn, const char *schema, const char *display);

#define RELATION_TRUST_TEMP_SQL                                                                              \
	"pg_catalog.has_database_privilege(pg_catalog.current_database(), 'TEMPORARY') AND "                     \
	"pg_catalog.current_setting('server_version_num')::pg_catalog.int4 >= 110000"

/*
 * Before a data migration (-- migrator:allow-dml): the tables whose
 * triggers run a function that belongs to neither the table's owner nor a
 * superuser (code of a role that was granted TRIGGER, which the migration
 * would run with its privileges).  Returns EXIT_OK with *found NULL (none)
 * or a "; "-separated list (caller frees), or EXIT_UNREACHABLE.
 */
int relation_foreign_triggers(PGconn *conn, char **found);

#endif /* TOOLKIT_RELATION_TRUST_H */
