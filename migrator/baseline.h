/*-------------------------------------------------------------------------
 *
 * baseline.h
 *	  Adopting a database that another runner migrated.
 *
 * "migrator baseline --version N" records every migration file up to N as
 * applied without running it (with its current checksum).  "--from TOOL"
 * takes the applied versions from another tool's own table instead:
 *
 *	  dbmate          schema_migrations(version varchar): one row a version
 *	  golang-migrate  schema_migrations(version bigint, dirty boolean): one
 *	                  row, everything up to it; refused while dirty
 *	  flyway          flyway_schema_history: rows with success and a version
 *
 * Either way the history must be empty.  When the other tool's table has our
 * history table's name it is renamed (schema_migrations_dbmate,
 * schema_migrations_golang_migrate) in the same transaction that creates
 * ours and records the versions: all of it or nothing.
 *
 * migrator/baseline.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef BASELINE_H
#define BASELINE_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "history.h"
#include "migration_files.h"

typedef enum baseline_source
{
	BASELINE_VERSION, /* --version N */
	BASELINE_DBMATE,
	BASELINE_GOLANG_MIGRATE,
	BASELINE_FLYWAY
} baseline_source;

/* "dbmate", "golang-migrate", "flyway"; false otherwise */
bool baseline_parse_source(const char *s, baseline_source *out);

/*
 * Run the baseline (with the run lock held).  version is used with
 * BASELINE_VERSION only.  Returns EXIT_OK; EXIT_USAGE (history not empty,
 * the other tool's table is missing or of another shape, a version that is
 * not an integer, nothing to baseline); EXIT_HISTORY_MISMATCH (an applied
 * version has no file, golang-migrate is dirty); EXIT_CHANGE_FAILED or
 * EXIT_UNREACHABLE when the database failed.  Logs every problem.
 */
int baseline_run(PGconn *conn, const history_table *ht, const migration_set *files, baseline_source from,
				 int64_t version, const char *dir);

#endif /* BASELINE_H */
