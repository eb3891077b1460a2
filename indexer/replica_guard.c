/*-------------------------------------------------------------------------
 *
 * replica_guard.c
 *	  The replicas' lag and the inactive slots' WAL, before each build
 *	  (see replica_guard.h).
 *
 * indexer/replica_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "replica_guard.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "memory.h"
#include "options.h"
#include "query.h"
#include "size_estimate.h"

/*
 * One row per replica ('r') and per inactive slot ('s').  No operator
 * appears (the session's search_path is empty): the LSN differences are
 * pg_wal_lsn_diff(), the lag in seconds date_part('epoch', ...).  On a
 * standby lsn is NULL and every difference with it.
 */
static const char guard_sql[] =
	"WITH w AS (SELECT pg_catalog.pg_is_in_recovery() AS standby, CASE WHEN pg_catalog.pg_is_in_recovery() "
	"THEN NULL ELSE pg_catalog.pg_current_wal_lsn() END AS lsn) "
	"SELECT 'r', r.application_name, pg_catalog.host(r.client_addr), r.state, "
	"pg_catalog.date_part('epoch', r.replay_lag), "
	"pg_catalog.pg_wal_lsn_diff(w.lsn, r.replay_lsn)::bigint, w.standby "
	"FROM pg_catalog.pg_stat_replication r, w "
	"UNION ALL "
	"SELECT 's', s.slot_name::text, s.slot_type, s.wal_status, NULL, "
	"pg_catalog.pg_wal_lsn_diff(w.lsn, s.restart_lsn)::bigint, w.standby "
	"FROM pg_catalog.pg_replication_slots s, w WHERE NOT s.active "
	"ORDER BY 1, 2";

enum
{
	COL_KIND,
	COL_NAME,
	COL_ADDR,  /* replica: client_addr; slot: slot_type */
	COL_STATE, /* replica: state; slot: wal_status */
	COL_LAG_S,
	COL_BEHIND,
	COL_STANDBY
};

/*
 * The slots' wal_status values that hold builds back whatever the amount
 * retained, and why (PostgreSQL's documentation of pg_replication_slots).
 */
static const struct
{
	const char *status;
	const char *why;
} slot_status_policy[] = {
	{"lost", "its WAL was already removed (wal_status lost): drop it with pg_drop_replication_slot()"},
	{"unreserved", "it is about to lose its WAL (wal_status unreserved): the primary keeps more WAL than "
				   "max_slot_wal_keep_size for it"},
};

bool
replica_guard_enabled(const indexer_settings *set)
{
	return set->max_replica_lag_ms > 0 || set->max_replica_lag_kb > 0 || set->max_slot_wal_kb > 0;
}

static bool
is_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col);
}

/* "walreceiver" (127.0.0.1), or (local socket) */
static void
replica_label(const PGresult *res, int row, char *buf, size_t len)
{
	snprintf(buf, len, "replica \"%s\" (%s)",
			 is_null(res, row, COL_NAME) ? "?" : PQgetvalue(res, row, COL_NAME),
			 is_null(res, row, COL_ADDR) ? "local socket" : PQgetvalue(res, row, COL_ADDR));
}

/* "16 MB (16777216 bytes)" */
static void
format_bytes(int64_t bytes, char *buf, size_t len)
{
	char human[32];

	size_estimate_format(bytes, human, sizeof(human));
	snprintf(buf, len, "%s (%lld bytes)", human, (long long) bytes);
}

/*
 * Judge the replica of row: true when it holds builds back, with why.
 * Only the bounds that are set are judged; what cannot be read fails
 * closed (replica_guard.h).
 */
static bool
replica_over(const PGresult *res, int row, const indexer_settings *set, char *why, size_t len)
{
	char    label[200], amount[64], bound[32];
	int64_t behind;
	double  lag_s;

	if (set->max_replica_lag_ms <= 0 && set->max_replica_lag_kb <= 0)
		return false;
	replica_label(res, row, label, sizeof(label));
	if (is_null(res, row, COL_STATE))
	{
		snprintf(why, len,
				 "cannot read replica lag: the role needs pg_monitor (%s shows NULL in "
				 "pg_stat_replication; GRANT pg_monitor TO the indexer's role)",
				 label);
		return true;
	}
	if (is_null(res, row, COL_BEHIND))
	{
		snprintf(why, len, "%s: lag unknown (replay_lsn NULL, state %s)", label,
				 PQgetvalue(res, row, COL_STATE));
		return true;
	}
	behind = atoll(PQgetvalue(res, row, COL_BEHIND));
	behind = behind < 0 ? 0 : behind;
	format_bytes(behind, amount, sizeof(amount));
	if (set->max_replica_lag_kb > 0 && behind > set->max_replica_lag_kb * 1024)
	{
		size_estimate_format(set->max_replica_lag_kb * 1024, bound, sizeof(bound));
		snprintf(why, len, "%s is %s behind, over --max-replica-lag-bytes %s", label, amount, bound);
		return true;
	}
	if (set->max_replica_lag_ms <= 0)
		return false;
	if (is_null(res, row, COL_LAG_S))
	{
		/* NULL is zero only for a replica that has replayed everything */
		if (behind == 0)
			return false;
		snprintf(why, len, "%s: lag unknown (replay_lag NULL, replay_lsn behind by %lld bytes)", label,
				 (long long) behind);
		return true;
	}
	lag_s = strtod(PQgetvalue(res, row, COL_LAG_S), NULL);
	if (lag_s * 1000 <= (double) set->max_replica_lag_ms)
		return false;
	format_duration(set->max_replica_lag_ms, bound, sizeof(bound));
	snprintf(why, len, "%s is %.1fs behind (replay_lag; %s of WAL), over --max-replica-lag %s", label, lag_s,
			 amount, bound);
	return true;
}

/* Judge the inactive slot of row: true when it holds builds back, with why. */
static bool
slot_over(const PGresult *res, int row, const indexer_settings *set, char *why, size_t len)
{
	const char *name = PQgetvalue(res, row, COL_NAME);
	const char *status = PQgetvalue(res, row, COL_STATE);
	char        amount[64], bound[32];
	int64_t     retained;

	if (set->max_slot_wal_kb <= 0)
		return false;
	for (size_t i = 0; i < sizeof(slot_status_policy) / sizeof(slot_status_policy[0]); i++)
		if (strcmp(status, slot_status_policy[i].status) == 0)
		{
			snprintf(why, len, "inactive replication slot \"%s\" (%s): %s", name,
					 PQgetvalue(res, row, COL_ADDR), slot_status_policy[i].why);
			return true;
		}
	if (is_null(res, row, COL_BEHIND))
		return false; /* it reserves no WAL */
	retained = atoll(PQgetvalue(res, row, COL_BEHIND));
	if (retained <= set->max_slot_wal_kb * 1024)
		return false;
	format_bytes(retained, amount, sizeof(amount));
	size_estimate_format(set->max_slot_wal_kb * 1024, bound, sizeof(bound));
	snprintf(why, len, "inactive replication slot \"%s\" (%s) retains %s of WAL, over --max-slot-wal %s",
			 name, PQgetvalue(res, row, COL_ADDR), amount, bound);
	return true;
}

/* Judge row (a replica or a slot); true when it holds builds back. */
static bool
row_over(const PGresult *res, int row, const indexer_settings *set, char *why, size_t len)
{
	if (strcmp(PQgetvalue(res, row, COL_STANDBY), "t") == 0)
		return false; /* a standby: no current LSN, and no build either */
	if (PQgetvalue(res, row, COL_KIND)[0] == 'r')
		return replica_over(res, row, set, why, len);
	return slot_over(res, row, set, why, len);
}

static PGresult *
read_state(PGconn *conn)
{
	return db_query(conn, "reading the replicas' lag (pg_stat_replication) and the replication slots",
					guard_sql, 0, NULL, PGRES_TUPLES_OK);
}

bool
replica_guard_judge(const PGresult *res, const indexer_settings *set, char *why, size_t len)
{
	for (int i = 0; i < PQntuples(res); i++)
		if (row_over(res, i, set, why, len))
			return true;
	return false;
}

replica_verdict
replica_guard_check(PGconn *conn, const indexer_settings *set, char *why, size_t len)
{
	PGresult *res;
	bool      over;

	why[0] = '\0';
	if (!replica_guard_enabled(set))
		return GUARD_CLEAR;
	if ((res = read_state(conn)) == NULL)
	{
		snprintf(why, len, "could not read the replicas' lag (see the error above)");
		return GUARD_ERROR;
	}
	over = replica_guard_judge(res, set, why, len);
	PQclear(res);
	return over ? GUARD_OVER : GUARD_CLEAR;
}

/* One plan line for a row that does not hold builds back. */
static void
report_clear_row(const PGresult *res, int row)
{
	char label[200], amount[64];

	if (is_null(res, row, COL_BEHIND))
	{
		log_event(LOG_LEVEL_INFO, "replica_guard", NULL, "%s \"%s\": no lag to judge",
				  PQgetvalue(res, row, COL_KIND)[0] == 'r' ? "replica" : "inactive slot",
				  PQgetvalue(res, row, COL_NAME));
		return;
	}
	format_bytes(atoll(PQgetvalue(res, row, COL_BEHIND)), amount, sizeof(amount));
	if (PQgetvalue(res, row, COL_KIND)[0] == 's')
	{
		log_event(LOG_LEVEL_INFO, "replica_guard", NULL,
				  "inactive replication slot \"%s\" (%s) retains %s of WAL: ok",
				  PQgetvalue(res, row, COL_NAME), PQgetvalue(res, row, COL_ADDR), amount);
		return;
	}
	replica_label(res, row, label, sizeof(label));
	log_event(LOG_LEVEL_INFO, "replica_guard", NULL, "%s is %s behind, replay_lag %s%s: ok", label, amount,
			  is_null(res, row, COL_LAG_S) ? "NULL" : PQgetvalue(res, row, COL_LAG_S),
			  is_null(res, row, COL_LAG_S) ? "" : "s");
}

bool
replica_guard_report(PGconn *conn, const indexer_settings *set, int *round_trips)
{
	PGresult *res;
	int       over = 0;

	if (!replica_guard_enabled(set))
		return true;
	res = read_state(conn);
	(*round_trips)++;
	if (res == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		char why[REPLICA_GUARD_WHY];

		if (row_over(res, i, set, why, sizeof(why)))
		{
			over++;
			log_event(LOG_LEVEL_WARNING, "replica_guard", NULL, "builds would wait: %s", why);
		}
		else
			report_clear_row(res, i);
	}
	if (PQntuples(res) == 0)
		log_event(LOG_LEVEL_INFO, "replica_guard", NULL, "replica guard: no replicas and no inactive slots");
	PQclear(res);
	return true;
}
