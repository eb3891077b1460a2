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
 * The text is not the whole story: a quiet migration still runs the user's
 * code that is already stored in the catalog (VALIDATE CONSTRAINT runs a
 * CHECK; ALTER COLUMN ... TYPE and any table rewrite rebuild expression and
 * partial indexes; ADD COLUMN of a domain runs its CHECK; a foreign key's
 * validation runs the user's equality operators; a trigger, a default ...),
 * and that code may call set_config(..., false), LISTEN, PREPARE, DECLARE
 * ... WITH HOLD, take an advisory lock or make a temporary table.  No list
 * of statement shapes can be shown complete, so a quiet migration's COMMIT
 * carries the residue probe (apply_residue_probe_add) in the same round
 * trip, behind a Sync: it reads the session as COMMIT left it and names
 * whatever is not the toolkit's own, and then the caller resets after all.
 * After COMMIT, not before: only then is the session final (a LISTEN takes
 * effect at COMMIT; a session-level SET made after the toolkit's SET LOCAL
 * of the same name is hidden by it until COMMIT, and pg_settings cannot
 * tell the two apart inside the transaction; ON COMMIT DROP tables are
 * gone).  The probe sees:
 *
 *   - every pg_settings row of source "session" other than the toolkit's
 *     own (search_path '', lock_timeout as the run set it, the
 *     idle_session_timeout 0 of common/conn.c), and role and
 *     session_authorization (hidden from pg_settings) against the run's;
 *   - prepared statements other than the toolkit's protocol-level ones
 *     (named toolkit_...), holdable cursors, LISTEN channels, session
 *     advisory locks, and any table, type or function in this session's
 *     temporary schema.
 *
 * It does not see: a custom placeholder variable (a dotted name no loaded
 * module defines: hidden from pg_settings, and no SQL lists them), nor the
 * sequence state of currval()/lastval(); neither changes how the toolkit's
 * SQL or the next migration's statements run (they name no such variable;
 * lastval() in a quiet migration is a volatile call, not quiet).  A probe
 * that fails or does not answer counts as residue.
 *
 * migrator/apply_residue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef APPLY_RESIDUE_H
#define APPLY_RESIDUE_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "apply.h"
#include "migration_files.h"
#include "pipeline.h"

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

/* What the residue probe found (apply_residue_probe_add). */
typedef struct residue_probe
{
	bool  answered; /* its row was read */
	char *left;     /* "settings: a, b; cursors; ...", NULL: nothing */
} residue_probe;

/*
 * Append the residue probe (see above) to p, to run right after COMMIT
 * (the caller puts a Sync between them: a failed COMMIT must not skip it,
 * nor it abort COMMIT).  It never fails the pipeline by what it finds; its
 * answer lands in *probe (zeroed here), which must outlive pipeline_run.
 * The run's expectations are read from ctx now: lock_timeout, --role or
 * the session's own role, the connection's user.  Returns the entry.
 */
int apply_residue_probe_add(pipeline *p, const apply_ctx *ctx, residue_probe *probe);

/*
 * What the probe says was left behind, or NULL when the session is exactly
 * the toolkit's; a probe that did not answer left "unknown (...)".
 */
const char *apply_residue_probe_left(const residue_probe *probe);

void apply_residue_probe_clear(residue_probe *probe);

#endif /* APPLY_RESIDUE_H */
