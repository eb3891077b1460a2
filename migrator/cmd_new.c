/*-------------------------------------------------------------------------
 *
 * cmd_new.c
 *	  migrator new NAME: write the next migration file and its verify file.
 *
 * Offline: the version is the highest file's plus one (or, with
 * --timestamp, the UTC time as YYYYMMDDHHMMSS), the name is checked the
 * way the loader will read it, and no existing file is ever overwritten.
 *
 * migrator/cmd_new.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "migrator.h"

static const char new_migration_template[] =
	"-- %s: describe what this migration changes and why.\n"
	"--\n"
	"-- Directives (comment lines in this leading block, any order):\n"
	"--   -- migrator:no-transaction   run statement by statement, outside a transaction\n"
	"--                                (make every statement idempotent: IF [NOT] EXISTS)\n"
	"--\n"
	"-- DDL only; indexes belong in conf/indexes.cfg (the indexer builds them online).\n"
	"-- Every lock wait is bounded by --lock-timeout, but a granted lock is held until\n"
	"-- commit: keep it short.\n"
	"\n";

static const char new_verify_template[] =
	"-- Verify %s: SELECT statements only, run after the migration in its\n"
	"-- transaction.  Each must return at least one row, every first-column value\n"
	"-- true; zero rows, false or null fail the migration and roll it back.\n"
	"-- Replace the example (or delete this file if nothing needs checking):\n"
	"--\n"
	"-- SELECT count(*) = 1\n"
	"-- FROM information_schema.columns\n"
	"-- WHERE table_schema = current_schema()\n"
	"--   AND table_name = 'call_log' AND column_name = 'started_at';\n";

/* Create path with contents, refusing to overwrite.  false after logging. */
static bool
write_new_file(const char *path, const char *contents)
{
	int    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	size_t len = strlen(contents);
	bool   ok;

	if (fd < 0)
	{
		log_event(LOG_LEVEL_ERROR, "new_failed", NULL, "could not create \"%s\": %s", path, strerror(errno));
		return false;
	}
	ok = write(fd, contents, len) == (ssize_t) len;
	if (close(fd) != 0)
		ok = false;
	if (!ok)
		log_event(LOG_LEVEL_ERROR, "new_failed", NULL, "could not write \"%s\": %s", path, strerror(errno));
	return ok;
}

/* The new file's version, above every file's; EXIT_OK or EXIT_USAGE after logging. */
static int
next_version(const run_state *rs, int64_t *version)
{
	const migration_set *files = &rs->files;

	if (rs->opts->timestamp)
	{
		time_t    now = time(NULL);
		struct tm tm;
		char      buf[32];

		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &tm);
		*version = strtoll(buf, NULL, 10);
	}
	else
		*version = files->n > 0 ? files->items[files->n - 1].version + 1 : 1;
	if (files->n > 0 && *version <= files->items[files->n - 1].version)
	{
		log_error("version %lld is not above the highest version %lld in \"%s\"", (long long) *version,
				  (long long) files->items[files->n - 1].version, rs->opts->dir);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* The name must make a valid file name: check it the way the loader will. */
static bool
valid_name(const char *name, int64_t version)
{
	char       *probe = xasprintf("%lld_%s.sql", (long long) version, name);
	int64_t     dummy_version;
	size_t      stem_len;
	bool        is_verify = false;
	const char *why;
	bool ok = migration_parse_filename(probe, &dummy_version, &stem_len, &is_verify, &why) && !is_verify;

	if (!ok)
		log_error("invalid migration name \"%s\": %s", name,
				  is_verify ? "it must not end in \".verify\"" : why);
	free(probe);
	return ok;
}

int
cmd_new(run_state *rs)
{
	const char *name = rs->opts->arg;
	int64_t     version;
	char       *path = NULL;
	char       *verify_path = NULL;
	char       *text = NULL;
	int         rc;

	rc = next_version(rs, &version);
	if (rc != EXIT_OK)
		return rc;
	if (!valid_name(name, version))
		return EXIT_USAGE;

	rc = EXIT_USAGE;
	path = xasprintf("%s/%lld_%s.sql", rs->opts->dir, (long long) version, name);
	verify_path = xasprintf("%s/%lld_%s.verify.sql", rs->opts->dir, (long long) version, name);
	text = xasprintf(new_migration_template, name);
	if (!write_new_file(path, text))
		goto done;
	free(text);
	text = xasprintf(new_verify_template, name);
	if (!write_new_file(verify_path, text))
	{
		unlink(path);
		goto done;
	}
	printf("%s\n%s\n", path, verify_path);
	log_event(LOG_LEVEL_INFO, "new", NULL,
			  "wrote %s and %s: write the change and its check (an empty file is refused)", path,
			  verify_path);
	rc = EXIT_OK;

done:
	free(path);
	free(verify_path);
	free(text);
	return rc;
}
