/*-------------------------------------------------------------------------
 *
 * run_lock.h
 *	  The migrator's run lock on a connection of its own, for baseline.
 *
 * up and repair take the run lock in their start-up batch instead, on the
 * run's first connection, and read the history only once it is held, as a
 * second statement (startup.h).
 *
 * migrator/run_lock.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATOR_RUN_LOCK_H
#define MIGRATOR_RUN_LOCK_H

#include "migrator.h"

/*
 * Take the run lock (rs->lock_conn, rs->lock_name, rs->locked) with a
 * bounded wait, as advlock_acquire.  Returns EXIT_OK, EXIT_LOCKED,
 * EXIT_UNREACHABLE or the cancel exit code.
 */
int run_lock_take(run_state *rs);

#endif /* MIGRATOR_RUN_LOCK_H */
