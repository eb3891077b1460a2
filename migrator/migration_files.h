/*-------------------------------------------------------------------------
 *
 * migration_files.h
 *	  The migrations directory: names, versions, verify files, directives.
 *
 * Only *.sql entries directly in the directory count; hidden files and
 * anything else are ignored.  Every *.sql entry must be a regular file (or
 * a symbolic link to one) that can be read: a dangling link, a directory,
 * FIFO, socket or device, an unreadable file or one that vanishes between
 * the scan and the read fails the load, path named; nothing that looks like
 * a migration is ever skipped.  Each file is read once, and the bytes read
 * are the ones checksummed, parsed and applied.  A migration is <version>_<name>.sql, version a
 * positive 64-bit integer written in decimal (leading zeros allowed, so
 * "0109" is version 109 and clashes with "109"), name of letters, digits,
 * '_' and '-'.  <version>_<name>.verify.sql is the verify file of the
 * migration with that exact stem.
 *
 * Directives are "-- migrator:<word>" lines in the file's leading comment
 * block (the lines before the first line that is neither blank nor a "--"
 * comment), in any order: no-transaction, allow-dml, requires-index NAME.
 * The one exception is "-- migrator:allow RULE", which excuses the statement
 * right below it from one lint rule and so may stand anywhere.
 *
 * Problems are all reported (one line each, file and line named)
 * before the load fails, so one run shows every mistake in the directory.
 *
 * migrator/migration_files.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATION_FILES_H
#define MIGRATION_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "checksum.h"
#include "sqlparse.h"

typedef struct migration
{
	int64_t version;
	char   *name;         /* "call_log_timestamps" */
	char   *stem;         /* "109_call_log_timestamps" */
	char   *path;         /* "<dir>/109_call_log_timestamps.sql" */
	bool    path_is_link; /* a symbolic link when scanned: followed */
	char   *source;       /* the file's text */
	char    checksum[CHECKSUM_HEX_LEN + 1];
	bool    no_transaction;   /* -- migrator:no-transaction */
	bool    allow_dml;        /* -- migrator:allow-dml */
	char  **required_indexes; /* -- migrator:requires-index NAME */
	int     n_required_indexes;
	int     cap_required_indexes; /* allocated length (memory.h) */
	char   *verify_path;          /* NULL when there is no verify file */
	char   *verify_source;
	bool    verify_is_link;
	/* filled by migration_parse() */
	bool       parsed;
	bool       verify_parsed; /* migration_parse_verify() */
	sql_script script;
	sql_script verify_script;
} migration;

typedef struct migration_set
{
	migration *items; /* sorted by version */
	int        n;
	int        cap; /* allocated length of items (memory.h) */
} migration_set;

/*
 * Read dir.  Returns EXIT_OK and fills *out, or EXIT_USAGE after logging
 * every problem found (unreadable directory or file, a *.sql entry that is
 * not a regular file, a name that does not
 * match, a zero or too large version, duplicate versions, a verify file
 * without its migration, an empty file, an unknown directive).  Reads no
 * database.
 */
int migration_set_load(const char *dir, migration_set *out);

/*
 * As migration_set_load, but on EXIT_USAGE *out still holds what could be
 * read (a file that could not be read has source NULL), so that lint can go
 * on with the files it was asked about; the caller frees *out either way.
 */
int migration_set_load_all(const char *dir, migration_set *out);

/*
 * migration_set_load_all in slices, for a caller with a wait to fill (the
 * connection's start-up: startup.h).  start lists and sorts dir into *out
 * (names, versions and verify files: no file is opened yet); each step
 * reads up to max_files more and returns true once every file was read.
 * l->ok ends false when anything failed (each problem was logged, as
 * migration_set_load_all's).
 */
typedef struct migration_loader
{
	migration_set *out;
	int            next; /* the next item to read */
	bool           ok;
} migration_loader;

void migration_loader_start(migration_loader *l, const char *dir, migration_set *out);
bool migration_loader_step(migration_loader *l, int max_files);

/*
 * Parse m's SQL and its verify file with PostgreSQL's parser.  Returns
 * EXIT_OK, or EXIT_USAGE after logging "path:line:column: message" and the
 * offending line (syntax error), a file with no statement, or a verify
 * statement that is not a SELECT.
 */
int migration_parse(migration *m);

/*
 * Parse only m's verify file (for baseline, which runs the verify of
 * migrations it never runs).  EXIT_OK when there is none.  Same errors as
 * migration_parse.
 */
int migration_parse_verify(migration *m);

/* Find a version; NULL if absent. */
migration *migration_set_find(const migration_set *set, int64_t version);

void migration_set_free(migration_set *set);

/*
 * Parse a file name.  Returns true for a migration or verify file and sets
 * *version, *stem_len (length of "<version>_<name>") and *is_verify; false
 * when the name does not match.  Exposed for unit tests.
 */
bool migration_parse_filename(const char *filename, int64_t *version, size_t *stem_len, bool *is_verify,
							  const char **why);

#endif /* MIGRATION_FILES_H */
