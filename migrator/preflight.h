/*-------------------------------------------------------------------------
 *
 * preflight.h
 *	  Before applying: who is already in the way of the pending migrations?
 *
 * A DDL statement queues behind every session that holds a lock on its
 * table, and every later query on that table queues behind the DDL.  So
 * before the first pending migration runs, the tables its statements name
 * (read from the parse trees) are looked up in pg_locks: sessions whose
 * transactions are older than --lock-timeout, and concurrent index builds
 * (which hold SHARE UPDATE EXCLUSIVE for the whole build), are named with
 * pid, application, state, transaction age and query.
 *
 * migrator/preflight.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PREFLIGHT_H
#define PREFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "migration_files.h"

typedef enum preflight_mode
{
	PREFLIGHT_OFF,
	PREFLIGHT_WARN,
	PREFLIGHT_FAIL
} preflight_mode;

/* "off", "warn", "fail"; false for anything else */
bool preflight_parse_mode(const char *s, preflight_mode *out);

/*
 * Check the tables of the (parsed) migrations in pending.  Returns EXIT_OK
 * (nobody in the way, or mode warn: then each one is logged as a warning),
 * EXIT_CHANGE_FAILED in mode fail when somebody is in the way, or
 * EXIT_UNREACHABLE when the query failed.
 */
int preflight_run(PGconn *conn, const char *default_schema, migration *const *pending, int n_pending,
				  int64_t lock_timeout_ms, preflight_mode mode);

/*
 * preflight_run in two halves, so that a caller that drops each file's
 * parse tree after checking it (up) need not keep them: add the tables of
 * one parsed migration to *rels, then check them (rels is left for the
 * caller to free with sql_relation_list_free).  Same return values.
 */
struct sql_relation_list;
void preflight_collect(const migration *m, struct sql_relation_list *rels);
int  preflight_check(PGconn *conn, const char *default_schema, struct sql_relation_list *rels,
					 int64_t lock_timeout_ms, preflight_mode mode);

#endif /* PREFLIGHT_H */
