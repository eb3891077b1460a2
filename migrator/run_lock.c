/*-------------------------------------------------------------------------
 *
 * run_lock.c
 *	  The migrator's run lock on a connection of its own (baseline; up and
 *	  repair take it in their start-up batch, startup.c).
 *
 * migrator/run_lock.c
 *
 *-------------------------------------------------------------------------
 */
#include "run_lock.h"

#include "advlock.h"
#include "cancel.h"
#include "conn.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"

int
run_lock_take(run_state *rs)
{
	int rc;

	rs->lock_name = advlock_name(ADVLOCK_MIGRATOR, rs->ht.qualified); /* quoted: unambiguous */
	rs->lock_conn = conn_open_like(&rs->opts->conn);
	if (rs->lock_conn == NULL)
		return cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
	rc = advlock_acquire(rs->lock_conn, rs->lock_name, rs->opts->lock_wait_ms, PROGNAME);
	if (rc == EXIT_OK)
		rs->locked = true;
	return rc;
}
