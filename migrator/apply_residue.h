/*-------------------------------------------------------------------------
 *
 * apply_residue.h
 *	  Can a migration leave anything behind in its session?
 *
 * Every migration starts from a clean session (apply_session.h): after a
 * migration that may have changed it, COMMIT is followed by DISCARD ALL and
 * the toolkit's settings again.  Most migrations are plain DDL that cannot
 * change the session at all, and for them that reset is pure cost (two
 * statements and two syncs per file).  This module decides, from the parse
 * tree alone, whether the reset may be skipped, and errs on the side of
 * resetting: a migration is "quiet" only when
 *
 *   - every statement is of a kind on a short list of DDL that runs no
 *     code of the user's at execution (CREATE TABLE, ALTER TABLE, CREATE
 *     INDEX, COMMENT, GRANT, DROP, ...), none of them temporary (TEMP or
 *     pg_temp, which would shadow the next migration's tables);
 *   - no expression anywhere in it (statement or verify file) calls a
 *     function other than a pg_catalog built-in whose every overload is
 *     immutable or stable (pg_volatile_functions.h: set_config,
 *     pg_advisory_lock, nextval, any function of the user's are not), nor
 *     an operator named with a schema other than pg_catalog;
 *   - the database has no enabled event trigger (checked at the start of
 *     the run and again by every reset, apply_session.h, since a
 *     migration's own code may make one through EXECUTE; a migration that
 *     creates or alters one is never quiet and makes the rest of the run
 *     reset every time), since an event trigger runs code on every DDL
 *     statement.
 *
 * Anything else (SET, RESET, PREPARE, LISTEN, DECLARE, DO, CALL, SELECT,
 * DML, CREATE FUNCTION, CREATE TEMP ..., unknown statements) resets.
 *
 * The text is not the whole story: DDL of those kinds can run the user's
 * code that is already stored in the catalog, and that code may call
 * set_config(..., false), LISTEN, PREPARE, DECLARE ... WITH HOLD, take an
 * advisory lock or make a temporary table, all of which outlive COMMIT.  So
 * a statement of a quiet kind is not quiet when it evaluates expressions
 * over existing rows, where what runs is not in the file:
 *
 *   - ALTER TABLE, any subcommand but those that read no row or only test
 *     it for NULL (SET/DROP DEFAULT, SET/DROP NOT NULL, DROP COLUMN, DROP
 *     CONSTRAINT, options, owner, triggers and rules on/off, identity,
 *     DETACH PARTITION, SET TABLESPACE, ...): so VALIDATE CONSTRAINT (a
 *     CHECK, a foreign key's equality operators), ALTER COLUMN TYPE (the
 *     rewrite checks the CHECKs again), ATTACH PARTITION (the key's
 *     comparison functions), SET LOGGED / ACCESS METHOD, INHERIT, OF, and
 *     ADD CONSTRAINT unless it is a CHECK or FOREIGN KEY added NOT VALID;
 *     ADD COLUMN unless its type is a built-in one (a domain's CHECK runs
 *     for every row, with or without a default) and its only constraints are
 *     NULL, NOT NULL, an identity or a default that is a constant or a
 *     function call without arguments (judged by the walk below);
 *   - ALTER DOMAIN ADD CONSTRAINT (unless NOT VALID) and VALIDATE CONSTRAINT;
 *   - CREATE TABLE ... PARTITION OF (a default partition's rows are checked
 *     with the key's operators).
 *
 * Why that is enough: with the statement kinds above, the user's code runs
 * only (a) in expressions written in the file (the walk), (b) when rows are
 * evaluated against stored expressions or operators (the list), (c) in an
 * event trigger (checked), or (d) in an index build (CREATE INDEX, a
 * rewrite's rebuild, ADD PRIMARY KEY): PostgreSQL runs a build as a
 * security-restricted operation in a GUC nest level of its own, so its
 * settings are undone when it ends (tested), and it can make neither a
 * temporary table, nor a holdable cursor, nor change the role; index
 * expressions and predicates must be immutable functions, in which LISTEN,
 * PREPARE and DECLARE are refused too.  What remains (a session advisory
 * lock; a LISTEN or PREPARE from a volatile operator-class function of the
 * user's) changes neither what the next migration's names resolve to nor
 * its bounds; a PREPARE that takes the name of a toolkit statement makes
 * the next batch fail (42P05), with nothing committed.  The column defaults,
 * CHECKs and triggers a quiet kind creates are only stored, not run: an
 * empty or new table has no rows, and quiet migrations write none.  A
 * probe after COMMIT that compares the session with the toolkit's
 * (pg_settings of source "session", prepared statements, cursors, LISTEN
 * channels, advisory locks, the temporary schema) was built and measured
 * instead: about 1.5 ms of server time per migration (pg_settings alone
 * 1 ms), "up" of 300 plain migrations 1.57x slower (bench/ab.py, median of
 * nine interleaved rounds); the list costs nothing, the shapes on it are
 * rare in a migration, and they are reset after COMMIT like any other, in
 * the same round trip.
 *
 * migrator/apply_residue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef APPLY_RESIDUE_H
#define APPLY_RESIDUE_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "migration_files.h"

/*
 * True when m (parsed) may leave session state behind, so its COMMIT must
 * be followed by the reset; false only for a quiet migration (see above).
 * event_triggers: the database has enabled event triggers.
 */
bool apply_residue_possible(const migration *m, bool event_triggers);

/*
 * Does m create, alter or drop an event trigger?  (After it, the run
 * assumes one exists.)
 */
bool apply_residue_touches_event_triggers(const migration *m);

/*
 * Does the database have an enabled event trigger?  One query.  True also
 * when it cannot be read (the safe answer).
 */
bool apply_residue_event_triggers(PGconn *conn);

#endif /* APPLY_RESIDUE_H */
