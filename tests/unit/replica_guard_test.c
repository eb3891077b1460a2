/*-------------------------------------------------------------------------
 *
 * replica_guard_test.c
 *	  Unit tests for indexer/replica_guard.c's judgment: the rows of
 *	  pg_stat_replication and pg_replication_slots, built by hand (libpq's
 *	  PQmakeEmptyPGresult), against the bounds.  The states a real standby
 *	  shows only for a moment (replay_lag NULL while replay_lsn is behind,
 *	  replay_lsn NULL, a lost slot) are judged here; the integration test
 *	  (tests/reliability/test_index_replica.py) drives a real one.
 *
 * tests/unit/replica_guard_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replica_guard.h"

#define NCOLS 7

/* One row: kind, name, addr, state, lag seconds, bytes, standby; NULL = SQL NULL. */
typedef struct row
{
	const char *v[NCOLS];
} row;

static PGresult *
make_result(const row *rows, int n)
{
	PGresult          *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc       attrs[NCOLS];
	static const char *names[NCOLS] = {"kind", "name", "addr", "state", "lag", "bytes", "standby"};

	memset(attrs, 0, sizeof(attrs));
	for (int c = 0; c < NCOLS; c++)
	{
		attrs[c].name = (char *) names[c];
		attrs[c].typid = 25; /* text */
		attrs[c].typlen = -1;
		attrs[c].atttypmod = -1;
	}
	assert_true(PQsetResultAttrs(res, NCOLS, attrs));
	for (int r = 0; r < n; r++)
		for (int c = 0; c < NCOLS; c++)
			assert_true(
				PQsetvalue(res, r, c, (char *) rows[r].v[c], rows[r].v[c] ? (int) strlen(rows[r].v[c]) : -1));
	return res;
}

/* Judge one row under the bounds; the reason, or "" when it is clear. */
static const char *
judge(row r, int64_t lag_ms, int64_t lag_kb, int64_t slot_kb)
{
	static char      why[REPLICA_GUARD_WHY];
	indexer_settings set;
	PGresult        *res = make_result(&r, 1);

	settings_init(&set);
	set.max_replica_lag_ms = lag_ms;
	set.max_replica_lag_kb = lag_kb;
	set.max_slot_wal_kb = slot_kb;
	if (!replica_guard_judge(res, &set, why, sizeof(why)))
		why[0] = '\0';
	PQclear(res);
	settings_free(&set);
	return why;
}

static const row caught_up = {{"r", "walreceiver", "10.0.0.7", "streaming", NULL, "0", "f"}};
static const row null_lag_behind = {{"r", "walreceiver", "10.0.0.7", "streaming", NULL, "8192", "f"}};
static const row no_monitor = {{"r", "walreceiver", NULL, NULL, NULL, NULL, "f"}};
static const row no_replay_lsn = {{"r", "pg_receivewal", NULL, "streaming", NULL, NULL, "f"}};
static const row far_behind = {{"r", "r1", "10.0.0.7", "streaming", "12.5", "16777216", "f"}};

static void
test_null_lag_is_zero_only_when_caught_up(void **state)
{
	(void) state;
	assert_string_equal(judge(caught_up, 1, 1, 0), "");
	assert_string_equal(
		judge(null_lag_behind, 1000, 0, 0),
		"replica \"walreceiver\" (10.0.0.7): lag unknown (replay_lag NULL, replay_lsn behind by "
		"8192 bytes)");
	/* with only a byte bound, the bytes are known and judged */
	assert_string_equal(judge(null_lag_behind, 0, 64, 0), "");
	assert_string_equal(judge(null_lag_behind, 0, 4, 0),
						"replica \"walreceiver\" (10.0.0.7) is 8.0 kB (8192 bytes) behind, over "
						"--max-replica-lag-bytes 4.0 kB");
}

static void
test_unreadable_rows_fail_closed(void **state)
{
	(void) state;
	assert_non_null(
		strstr(judge(no_monitor, 0, 1024, 0), "cannot read replica lag: the role needs pg_monitor"));
	assert_string_equal(
		judge(no_replay_lsn, 1000, 0, 0),
		"replica \"pg_receivewal\" (local socket): lag unknown (replay_lsn NULL, state streaming)");
	/* no lag bound: the replicas are not judged at all */
	assert_string_equal(judge(no_monitor, 0, 0, 1024), "");
}

static void
test_bounds(void **state)
{
	(void) state;
	assert_string_equal(judge(far_behind, 10000, 0, 0),
						"replica \"r1\" (10.0.0.7) is 12.5s behind (replay_lag; 16.0 MB (16777216 bytes) of "
						"WAL), over --max-replica-lag 10s");
	assert_string_equal(judge(far_behind, 20000, 0, 0), "");
	assert_string_equal(judge(far_behind, 0, 16384, 0), "");
	assert_string_equal(judge(far_behind, 0, 16383, 0),
						"replica \"r1\" (10.0.0.7) is 16.0 MB (16777216 bytes) behind, over "
						"--max-replica-lag-bytes 16.0 MB");
}

static void
test_slots(void **state)
{
	row over = {{"s", "idle", "physical", "extended", NULL, "2097152", "f"}};
	row lost = {{"s", "gone", "physical", "lost", NULL, NULL, "f"}};
	row unreserved = {{"s", "old", "logical", "unreserved", NULL, "1024", "f"}};
	row no_reserve = {{"s", "lazy", "physical", "", NULL, NULL, "f"}};

	(void) state;
	assert_string_equal(
		judge(over, 0, 0, 1024),
		"inactive replication slot \"idle\" (physical) retains 2.0 MB (2097152 bytes) of WAL, "
		"over --max-slot-wal 1.0 MB");
	assert_string_equal(judge(over, 0, 0, 4096), "");
	assert_string_equal(judge(over, 0, 0, 0), ""); /* off */
	assert_non_null(strstr(judge(lost, 0, 0, 1024), "inactive replication slot \"gone\" (physical): its WAL "
													"was already removed (wal_status lost)"));
	assert_non_null(strstr(judge(unreserved, 0, 0, 1024), "(wal_status unreserved)"));
	assert_string_equal(judge(no_reserve, 0, 0, 1024), "");
}

static void
test_a_standby_judges_nothing(void **state)
{
	row standby = {{"r", "walreceiver", NULL, NULL, NULL, NULL, "t"}};

	(void) state;
	assert_string_equal(judge(standby, 1, 1, 1), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_lag_is_zero_only_when_caught_up),
		cmocka_unit_test(test_unreadable_rows_fail_closed),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_a_standby_judges_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
