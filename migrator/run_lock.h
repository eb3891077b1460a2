/*-------------------------------------------------------------------------
 *
 * run_lock.h
 *	  The migrator's run lock, and the history read under it.
 *
 * up and repair take the run lock (advlock.h) on a connection of their
 * own and read the history only once it is held.  The lock and the read
 * are two statements, never one: a statement's snapshot is taken when it
 * starts, before a lock it takes is granted, so one statement could read
 * the history as it was before a run that just released the lock.  When
 * the history table is there and passes its checks (history_vet) the two
 * go to the server in one round trip (libpq pipeline mode: the try-lock,
 * a sync, the SELECT, a sync); the SELECT's result is used only when the
 * lock was granted, else it is discarded and the run waits for the lock as
 * advlock_acquire does, then reads the history again.
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

/*
 * run_lock_take, then history_load into rs->hist, in one round trip when
 * the table is there (see above).  Returns EXIT_OK or run_lock_take's and
 * history_load's codes.
 */
int run_lock_take_and_read_history(run_state *rs);

#endif /* MIGRATOR_RUN_LOCK_H */
