/*-------------------------------------------------------------------------
 *
 * replica_guard.h
 *	  Do no harm to replicas and disks: before each build, the replicas'
 *	  lag and the WAL that inactive replication slots retain.
 *
 * A concurrent build writes its whole index to the WAL.  A replica that
 * is already behind falls further behind (and a hot standby's queries
 * see older data, or are cancelled), and an inactive slot keeps every
 * byte of that WAL on the primary's disk.  So, on a primary, every build
 * first reads (one query, schema-qualified, no lock):
 *
 *	  - every replica of pg_stat_replication: time lag = replay_lag, byte
 *		lag = pg_current_wal_lsn() - replay_lsn, compared with
 *		--max-replica-lag and --max-replica-lag-bytes (both off by default);
 *	  - every slot of pg_replication_slots with active = false: retained
 *		WAL = pg_current_wal_lsn() - restart_lsn, compared with
 *		--max-slot-wal (default 1GB); wal_status 'lost' or 'unreserved'
 *		is over the bound whatever the amount (the slot is broken or about
 *		to be: an operator must look at it).  A slot that reserves no WAL
 *		(restart_lsn NULL, not lost) retains nothing.
 *
 * Fail closed.  replay_lag is NULL both when a replica has caught up and
 * when the role cannot read it (without pg_monitor, pg_stat_replication
 * shows every column of another role's walsender as NULL): NULL counts as
 * zero only when replay_lsn equals the current LSN.  A row whose state is
 * NULL cannot be read at all ("the role needs pg_monitor"); a replay_lsn
 * of NULL, or a replay_lag of NULL while replay_lsn is behind, is "lag
 * unknown".  Each counts as over the bound.  The replicas are judged only
 * when a lag bound is set; the slots only when --max-slot-wal is.  On a
 * standby (pg_is_in_recovery()) there is no current LSN: nothing is
 * judged (a standby refuses the build anyway).
 *
 * What happens while the guard is over a bound is the build engine's
 * (build.c): it waits, polling every REPLICA_GUARD_POLL_MS, for at most
 * --replica-lag-wait in all per run, --max-runtime or the window's end,
 * then defers the build (exit 0, counted), or refuses a critical one
 * (exit 1, the guard named).
 *
 * indexer/replica_guard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_REPLICA_GUARD_H
#define INDEXER_REPLICA_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "settings.h"

/* how often a waiting build asks again */
#define REPLICA_GUARD_POLL_MS 1000
/* room for one reason */
#define REPLICA_GUARD_WHY 320

typedef enum replica_verdict
{
	GUARD_CLEAR, /* every bound is respected (or no bound is set) */
	GUARD_OVER,  /* a replica or slot is over a bound, or cannot be read: why says which */
	GUARD_ERROR  /* the query failed (logged); why says so: treat as over */
} replica_verdict;

/* Is any bound of the guard set? (Then each build asks it first.) */
bool replica_guard_enabled(const indexer_settings *set);

/*
 * One look at the replicas and slots over conn (one query).  GUARD_OVER
 * or GUARD_ERROR with the first reason in why ("replica \"walreceiver\"
 * (127.0.0.1) is 16 MB (16777216 bytes) behind, over
 * --max-replica-lag-bytes 64 kB"); GUARD_CLEAR otherwise.  Never waits.
 */
replica_verdict replica_guard_check(PGconn *conn, const indexer_settings *set, char *why, size_t len);

/*
 * Judge the rows of the guard's query (columns: kind 'r' or 's', name,
 * client_addr or slot_type, state or wal_status, replay_lag in seconds,
 * bytes behind or retained, in recovery; see replica_guard.c): true with
 * the first reason in why when one holds builds back.  No round trip
 * (the unit test builds res by hand).
 */
bool replica_guard_judge(const PGresult *res, const indexer_settings *set, char *why, size_t len);

/*
 * For plan: log every replica and inactive slot with its lag or retained
 * WAL and whether it holds builds back (a warning when it does).  Sends
 * one query when the guard is enabled (counted in *round_trips).  Returns
 * true, or false when the query failed (logged).
 */
bool replica_guard_report(PGconn *conn, const indexer_settings *set, int *round_trips);

#endif /* INDEXER_REPLICA_GUARD_H */
