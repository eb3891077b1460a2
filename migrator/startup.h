/*-------------------------------------------------------------------------
 *
 * startup.h
 *	  A run's first connection and everything read before its command
 *	  runs, in two round trips.
 *
 * The first round trip (one pipeline, one Sync: a failure aborts the rest)
 * sets the session up (an empty search_path, see conn.h), sets --role,
 * looks --schema up, inspects the history table and checks that it cannot
 * run anyone's code (relation_trust.h), and for a command that takes the
 * run lock tries it, last.  Only when every answer was judged, the table is
 * ours and trusted, and the lock (if asked for) was granted does the
 * second round trip read the history: the lock and the read stay two
 * statements (run_lock.h), and the table is never read before its checks
 * passed.  A lock held by another run is waited for as advlock_acquire
 * does, and the history is then vetted and read again under it.
 *
 * migrator/startup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATOR_STARTUP_H
#define MIGRATOR_STARTUP_H

#include <stdbool.h>

#include "migration_files.h"
#include "migrator.h"

/* What the command asks of the start-up. */
typedef struct startup_want
{
	bool writes;          /* the command writes (relation_trust.h) */
	bool take_lock;       /* up, repair: the run lock on this connection */
	bool read_history;    /* into rs->hist */
	bool may_create;      /* --schema may be missing with --create-schema */
	bool explain_plan;    /* plan: say that up --create-schema would create it */
	bool history_details; /* status, plan: history_table's read_details */
	/*
	 * The migration files, still to be read (migration_loader_start was
	 * called), or NULL when they were read before.  They are read while the
	 * server starts the session and answers the first round trip (conn.h's
	 * conn_work), and judged first: a file that fails is EXIT_USAGE even
	 * when the server could not be reached.
	 */
	migration_loader *files;
} startup_want;

/*
 * Open the run's first connection into *conn (rs->conn, or rs->lock_conn
 * when want->take_lock: rs->lock_name and rs->locked are set too), fill
 * rs->ht's names, and read what want asks.  Returns EXIT_OK;
 * EXIT_USAGE after one error line (a bad --role, a missing --schema, a
 * foreign or armed history table); EXIT_UNREACHABLE; EXIT_LOCKED; or the
 * cancel exit code.
 */
int startup_open(run_state *rs, const startup_want *want, PGconn **conn);

/*
 * --schema is missing (exists false): EXIT_OK when the command may create
 * it (plan says so), else EXIT_USAGE after one error line.
 */
int startup_schema_verdict(const run_state *rs, bool exists, bool may_create, bool explain_plan);

#endif /* MIGRATOR_STARTUP_H */
