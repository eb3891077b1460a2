/*-------------------------------------------------------------------------
 *
 * advlock.c
 *	  One run at a time: a session advisory lock with a bounded wait.
 *
 * common/advlock.c
 *
 *-------------------------------------------------------------------------
 */
#include "advlock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "exitcodes.h"
#include "log.h"
#include "md5.h"
#include "memory.h"
#include "options.h"
#include "query.h"
#include "retry.h"

/* the key, as a parameter (the server no longer computes it) */
#define LOCK_KEY_SQL         "$1::pg_catalog.int8"
#define LOCK_POLL_MS         250
#define LOCK_LOG_INTERVAL_MS 5000

/*
 * Who holds the lock: pg_locks shows a bigint advisory key split into
 * classid (high 32 bits) and objid (low 32 bits), objsubid 1.
 */
static const char *holder_sql =
	"WITH k AS (SELECT " LOCK_KEY_SQL " AS key) "
	"SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local'), "
	"       coalesce(extract(epoch FROM now() - a.backend_start)::bigint, 0) "
	"FROM k, pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
	"WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
	"  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) "
	"  AND l.classid::bigint = ((k.key >> 32) & 4294967295) "
	"  AND l.objid::bigint = (k.key & 4294967295)";

int64_t
advlock_key(const char *name)
{
	uint8_t  digest[MD5_DIGEST_LENGTH];
	uint64_t key = 0;

	md5_digest(name, strlen(name), digest);
	/* bit(64) reads the 16 hex digits most significant first */
	for (int i = 0; i < 8; i++)
		key = key << 8 | digest[i];
	/* and ::bigint takes the bits as two's complement: 0x8... is negative */
	return key <= (uint64_t) INT64_MAX ? (int64_t) key : -(int64_t) (UINT64_MAX - key) - 1;
}

char *
advlock_name(advlock_program program, const char *scope)
{
	/* the prefixes are part of the key: never change one */
	static const char *const prefix[] = {
		[ADVLOCK_MIGRATOR] = "migrator",
		[ADVLOCK_INDEXER] = "indexer",
	};

	return xasprintf("%s:%s", prefix[program], scope);
}

/* The key of name as a decimal parameter; buf holds at least 24 bytes. */
static const char *
key_param(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%lld", (long long) advlock_key(name));
	return buf;
}

static void
log_holder(PGconn *conn, const char *name, const char *what, int64_t waited_ms, int64_t wait_ms)
{
	char        key[24];
	const char *values[1] = {key_param(name, key, sizeof(key))};
	PGresult   *res = db_query(conn, "looking up the lock holder", holder_sql, 1, values, PGRES_TUPLES_OK);

	if (res == NULL)
		return;
	if (PQntuples(res) == 0)
		log_event(LOG_LEVEL_INFO, "lock_wait", NULL,
				  "waiting for another %s run to finish (lock \"%s\"; waited %llds of %llds)", what, name,
				  (long long) waited_ms / 1000, (long long) wait_ms / 1000);
	for (int i = 0; i < PQntuples(res); i++)
	{
		log_field fields[] = {{"holder_pid", PQgetvalue(res, i, 0)},
							  {"holder_application", PQgetvalue(res, i, 1)},
							  {NULL, NULL}};

		log_event(
			LOG_LEVEL_INFO, "lock_wait", fields,
			"waiting for another %s run to finish: lock \"%s\" held by pid=%s application=\"%s\" client=%s connected %ss ago (waited %llds of %llds)",
			what, name, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			PQgetvalue(res, i, 3), (long long) waited_ms / 1000, (long long) wait_ms / 1000);
	}
	PQclear(res);
}

int
advlock_acquire(PGconn *conn, const char *name, int64_t wait_ms, const char *what)
{
	char        key[24];
	const char *values[1] = {key_param(name, key, sizeof(key))};
	int64_t     start = monotonic_ms();
	int64_t     last_log = -LOCK_LOG_INTERVAL_MS;

	for (;;)
	{
		PGresult *res =
			db_query(conn, "taking the run lock", "SELECT pg_catalog.pg_try_advisory_lock(" LOCK_KEY_SQL ")",
					 1, values, PGRES_TUPLES_OK);
		bool    got;
		int64_t waited;

		if (res == NULL)
			return cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
		got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (got)
		{
			log_event(LOG_LEVEL_DEBUG, "lock_acquired", NULL, "took the run lock \"%s\"", name);
			return EXIT_OK;
		}
		waited = monotonic_ms() - start;
		if (waited >= wait_ms)
			break;
		if (waited - last_log >= LOCK_LOG_INTERVAL_MS)
		{
			log_holder(conn, name, what, waited, wait_ms);
			last_log = waited;
		}
		if (!sleep_ms_interruptible(LOCK_POLL_MS))
		{
			log_event(LOG_LEVEL_ERROR, "interrupted", NULL,
					  "interrupted by %s while waiting for the run lock \"%s\"", cancel_signal_name(), name);
			return cancel_exit_code();
		}
	}
	log_holder(conn, name, what, monotonic_ms() - start, wait_ms);
	{
		char buf[32];

		format_duration(wait_ms, buf, sizeof(buf));
		log_event(LOG_LEVEL_ERROR, "lock_busy", NULL,
				  "another %s run holds the lock \"%s\"; gave up after --lock-wait %s", what, name, buf);
	}
	return EXIT_LOCKED;
}

bool
advlock_release(PGconn *conn, const char *name)
{
	char        key[24];
	const char *values[1] = {key_param(name, key, sizeof(key))};
	db_error    err = {0};
	PGresult   *res;
	bool        ok;

	/* also after a signal: the release is part of stopping cleanly */
	if (!db_run_ex(conn, "SELECT pg_catalog.pg_advisory_unlock(" LOCK_KEY_SQL ")", 1, values, PGRES_TUPLES_OK,
				   &res, &err, NULL, false))
	{
		/* a connection that is gone took its session lock with it */
		if (PQstatus(conn) == CONNECTION_OK)
			log_warning("releasing the run lock: %s", err.message);
		db_error_clear(&err);
		return false;
	}
	ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (!ok)
		log_warning("the run lock \"%s\" was not held at release", name);
	PQclear(res);
	return ok;
}

#define HELD_SQL                                                                                             \
	"WITH k AS (SELECT " LOCK_KEY_SQL " AS key) "                                                            \
	"SELECT pg_catalog.count(*) FROM k, pg_catalog.pg_locks l "                                              \
	"WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid = $2::pg_catalog.int4 "        \
	"  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = "                            \
	"pg_catalog.current_database()) "                                                                        \
	"  AND l.classid::pg_catalog.int8 = ((k.key >> 32) & 4294967295) "                                       \
	"  AND l.objid::pg_catalog.int8 = (k.key & 4294967295)"

const char *
advlock_held_query(const char *name, int pid, advlock_held_args *a)
{
	snprintf(a->pidbuf, sizeof(a->pidbuf), "%d", pid);
	a->values[0] = key_param(name, a->keybuf, sizeof(a->keybuf));
	a->values[1] = a->pidbuf;
	return HELD_SQL;
}

int
advlock_held(PGconn *conn, const char *name, int pid, db_error *err)
{
	advlock_held_args a;
	const char       *sql = advlock_held_query(name, pid, &a);
	PGresult         *res;
	int               held;

	if (!db_run(conn, sql, 2, a.values, PGRES_TUPLES_OK, &res, err, NULL))
		return -1;
	held = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	PQclear(res);
	return held;
}
