/*-------------------------------------------------------------------------
 *
 * baseline.h
 *	  Adopting a database that another runner migrated.
 *
 * "migrator baseline --baseline-version N" records every migration file up to N as
 * applied without running it (with its current checksum).  "--from TOOL"
 * takes the applied versions from another tool's own table instead:
 *
 *	  dbmate          schema_migrations(version varchar): one row a version
 *	  golang-migrate  schema_migrations(version bigint, dirty boolean): one
 *	                  row, everything up to it; refused while dirty
 *	  flyway          flyway_schema_history: rows with success and a version
 *
 * Before anything is recorded, the verify files of every migration to be
 * recorded run, read-only, in one transaction that is rolled back (see
 * verify.h): a failing one refuses the whole baseline.  Verify files are
 * point-in-time checks (an early one may test a column a later migration
 * dropped), so --skip-verify VERSION excuses one, and --no-verify all (with
 * a warning); the history's "baseline" column records, per row, whether its
 * verify passed, was skipped (and how) or did not exist.
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

typedef struct baseline_options
{
	baseline_source from;
	int64_t         version; /* BASELINE_VERSION: must be a file's version */
	const char     *dir;
	const char     *schema;      /* the search_path of the verify files */
	const int64_t  *skip_verify; /* --skip-verify, each a recorded version with
								 * a verify file */
	int             n_skip_verify;
	bool            no_verify;            /* --no-verify */
	int64_t         lock_timeout_ms;      /* bound on the verify files' lock waits */
	int64_t         statement_timeout_ms; /* --statement-timeout; -1: the
										   * session's own (DSN, role, database) */
	const char     *target;               /* "user@host:port/db", for messages */
} baseline_options;

/*
 * Run the baseline (with the run lock held).  Returns EXIT_OK; EXIT_USAGE
 * (history not empty, --version not a file's version, a --skip-verify that
 * names no recorded verify file, the other tool's table is missing or of
 * another shape, a version that is not an integer, nothing to baseline, a
 * verify file that does not parse); EXIT_CHANGE_FAILED when a verify file
 * fails (nothing recorded) or the database failed; EXIT_HISTORY_MISMATCH
 * (an applied version has no file, golang-migrate is dirty);
 * EXIT_UNREACHABLE; the signal's code (130/143) when SIGINT/SIGTERM stopped
 * it, with a last line that says so (nothing recorded, or, when COMMIT was
 * in flight, that "migrator status" tells).  Logs every problem; a
 * failure's last line names it.
 */
int baseline_run(PGconn *conn, const history_table *ht, migration_set *files, const baseline_options *o);

#endif /* BASELINE_H */
