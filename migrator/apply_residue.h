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
 *   - the database has no enabled event trigger (checked once per run;
 *     a migration that creates or alters one is never quiet and makes the
 *     rest of the run reset every time), since an event trigger runs code
 *     on every DDL statement.
 *
 * Anything else (SET, RESET, PREPARE, LISTEN, DECLARE, DO, CALL, SELECT,
 * DML, CREATE FUNCTION, CREATE TEMP ..., unknown statements) resets.
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
