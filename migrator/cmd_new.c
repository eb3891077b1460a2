/*-------------------------------------------------------------------------
 *
 * cmd_new.c
 *	  migrator new NAME: write the next migration file (and, with --verify,
 *	  its verify file).
 *
 * Offline: the version is the highest file's plus one (or, with
 * --timestamp, the UTC time as YYYYMMDDHHMMSS), zero-padded to the width
 * of the highest file's version (NEW_DEFAULT_WIDTH digits in an empty
 * directory) so that "ls" lists the files in order; the name is checked
 * the way the loader will read it, and no existing file is ever
 * overwritten.  A missing directory is created (with its parents), and
 * said so.
 *
 * The header lists every directive migration_files.c understands, each
 * commented out once more ("-- -- migrator:..."), so that deleting the
 * first "-- " of its line is all it takes to use it
 * (tests/integration/test_new.py does exactly that with each one).
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "migrator.h"

/* Digits of the first version in an empty directory: 0001 sorts like 0010. */
#define NEW_DEFAULT_WIDTH 4

/*
 * The allow line comes last, with no blank line after it: uncommented, it
 * excuses the statement written right below the header.
 */
static const char new_migration_template[] =
	"-- %s: describe what this migration changes and why.\n"
	"--\n"
	"-- Write the change below this comment block: DDL only, each statement ending\n"
	"-- in \";\".  Indexes belong in the indexer's definitions (conf/indexes.cfg),\n"
	"-- which build them online.  Every lock wait is bounded by --lock-timeout, but\n"
	"-- a granted lock is held until commit: keep the migration short.  A check\n"
	"-- that the schema is what the application needs goes in %s.verify.sql\n"
	"-- (\"migrator new NAME --verify\" writes one with an example).\n"
	"--\n"
	"-- Directives: to use one, delete the first \"-- \" of its line.  Each must stay\n"
	"-- in this leading comment block, above the first statement; \"allow\" may also\n"
	"-- stand right above any later statement.\n"
	"--\n"
	"-- Run the statements one by one, outside a transaction (for statements that\n"
	"-- cannot run in one); a failure leaves the statements before it applied, so\n"
	"-- make each one safe to run again (IF [NOT] EXISTS):\n"
	"-- -- migrator:no-transaction\n"
	"--\n"
	"-- Allow INSERT, UPDATE, DELETE and other data changes (small reference data\n"
	"-- only; backfill a large table in batches, outside migrations):\n"
	"-- -- migrator:allow-dml\n"
	"--\n"
	"-- Build the index NAME of the indexer's definitions (--index-config, default\n"
	"-- $INDEXER_CONFIG, else conf/indexes.cfg) before this migration runs, online;\n"
	"-- one line per index:\n"
	"-- -- migrator:requires-index NAME\n"
	"--\n"
	"-- Excuse the statement right below the line from one lint rule, RULE as\n"
	"-- \"migrator lint\" names it (e.g. drop-column); one line per rule:\n"
	"-- -- migrator:allow RULE\n";

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

/*
 * Create dir and its missing parents, like "mkdir -p".  Returns true when
 * it exists afterwards (created or not); false after logging.
 */
static bool
make_directory(const char *dir)
{
	char *path = xstrdup(dir);
	bool  ok = true;

	for (char *p = path + 1; ok; p++)
	{
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		/* EEXIST also for a file in the way: the load names it below */
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
		{
			log_event(LOG_LEVEL_ERROR, "new_failed", NULL, "could not create directory \"%s\": %s", path,
					  strerror(errno));
			ok = false;
		}
		if (last)
			break;
		*p = '/';
	}
	free(path);
	return ok;
}

/*
 * Read the directory into rs->files, creating it first when it does not
 * exist.  EXIT_OK, or EXIT_USAGE after logging.
 */
static int
load_or_create_dir(run_state *rs)
{
	const char *dir = rs->opts->dir;
	struct stat st;

	if (stat(dir, &st) != 0 && errno == ENOENT)
	{
		if (!make_directory(dir))
			return EXIT_USAGE;
		log_event(LOG_LEVEL_INFO, "new_directory", NULL, "created directory \"%s\"", dir);
	}
	return migration_set_load(dir, &rs->files);
}

/*
 * The new file's version, above every file's, and the width to pad it to
 * (0: none); EXIT_OK or EXIT_USAGE after logging.
 */
static int
next_version(const run_state *rs, int64_t *version, int *width)
{
	const migration_set *files = &rs->files;
	const migration     *last = files->n > 0 ? &files->items[files->n - 1] : NULL;

	*width = 0;
	if (rs->opts->timestamp)
	{
		time_t    now = time(NULL);
		struct tm tm;
		char      buf[32];

		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &tm);
		*version = strtoll(buf, NULL, 10);
	}
	else if (last != NULL)
	{
		*version = last->version + 1;
		/* the directory's own convention: "0012_x" is followed by "0013_y" */
		*width = (int) strcspn(last->stem, "_");
	}
	else
	{
		*version = 1;
		*width = NEW_DEFAULT_WIDTH;
	}
	if (last != NULL && *version <= last->version)
	{
		log_error("version %lld is not above the highest version %lld in \"%s\"", (long long) *version,
				  (long long) last->version, rs->opts->dir);
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

/* Write the migration, and the verify file when asked; false after logging (nothing left behind). */
static bool
write_files(const char *path, const char *verify_path, const char *stem)
{
	char *text = xasprintf(new_migration_template, stem, stem);
	bool  ok = write_new_file(path, text);

	free(text);
	if (!ok || verify_path == NULL)
		return ok;
	text = xasprintf(new_verify_template, stem);
	ok = write_new_file(verify_path, text);
	free(text);
	if (!ok)
		unlink(path);
	return ok;
}

int
cmd_new(run_state *rs)
{
	const char *name = rs->opts->arg;
	int64_t     version;
	int         width;
	char       *stem;
	char       *path;
	char       *verify_path = NULL;
	int         rc;

	/* the name first: a typo creates no directory */
	if (!valid_name(name, 1))
		return EXIT_USAGE;
	rc = load_or_create_dir(rs);
	if (rc != EXIT_OK)
		return rc;
	rc = next_version(rs, &version, &width);
	if (rc != EXIT_OK)
		return rc;

	stem = xasprintf("%0*lld_%s", width, (long long) version, name);
	path = xasprintf("%s/%s.sql", rs->opts->dir, stem);
	if (rs->opts->new_verify)
		verify_path = xasprintf("%s/%s.verify.sql", rs->opts->dir, stem);
	rc = EXIT_USAGE;
	if (write_files(path, verify_path, stem))
	{
		printf("%s\n", path);
		if (verify_path != NULL)
			printf("%s\n", verify_path);
		log_event(LOG_LEVEL_INFO, "new", NULL,
				  "wrote %s%s%s: write the change below its header (an empty file is refused)", path,
				  verify_path ? " and " : "", verify_path ? verify_path : "");
		rc = EXIT_OK;
	}
	free(stem);
	free(path);
	free(verify_path);
	return rc;
}
