/*-------------------------------------------------------------------------
 *
 * migration_files.c
 *	  The migrations directory: names, versions, verify files, directives.
 *
 * migrator/migration_files.c
 *
 *-------------------------------------------------------------------------
 */
#include "migration_files.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "migration_directives.h"

#define VERIFY_SUFFIX ".verify.sql"
#define SQL_SUFFIX    ".sql"

static bool
ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

bool
migration_parse_filename(const char *filename, int64_t *version, size_t *stem_len, bool *is_verify,
						 const char **why)
{
	size_t  len = strlen(filename);
	size_t  digits = 0;
	size_t  stem;
	int64_t v = 0;

	/* the caller lists only *.sql files; the contract holds for any name */
	if (!ends_with(filename, SQL_SUFFIX))
	{
		*why = "expected <version>_<name>.sql";
		return false;
	}
	*is_verify = ends_with(filename, VERIFY_SUFFIX);
	stem = len - strlen(*is_verify ? VERIFY_SUFFIX : SQL_SUFFIX);
	while (digits < stem && isdigit((unsigned char) filename[digits]))
	{
		int d = filename[digits] - '0';

		if (v > (INT64_MAX - d) / 10)
		{
			*why = "the version does not fit in a 64-bit integer";
			return false;
		}
		v = v * 10 + d;
		digits++;
	}
	if (digits == 0)
	{
		*why = "expected <version>_<name>.sql, the version a positive integer";
		return false;
	}
	if (digits >= stem || filename[digits] != '_' || digits + 1 == stem)
	{
		*why = "expected <version>_<name>.sql: an underscore and a name must follow the version";
		return false;
	}
	for (size_t i = digits + 1; i < stem; i++)
	{
		char c = filename[i];

		if (!isalnum((unsigned char) c) && c != '_' && c != '-')
		{
			*why = "the name may hold only letters, digits, '_' and '-'";
			return false;
		}
	}
	if (v == 0)
	{
		*why = "the version must be positive";
		return false;
	}
	*version = v;
	*stem_len = stem;
	return true;
}

/* "a directory", "a FIFO", ...: what a path that is not a file is */
static const char *
file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISLNK(mode))
		return "a symbolic link";
	return "not a regular file";
}

/*
 * Is the directory entry dir/name a regular file we can read, following a
 * symbolic link?  Returns true (and *is_link), or false with *why set to a
 * sentence the caller frees.  Looks only at metadata: nothing is opened, so
 * a FIFO cannot block us here.  An entry readdir() already saw as a
 * regular file costs no system call: read_file opens it with O_NOFOLLOW
 * and refuses anything fstat does not call a regular file, so a swap after
 * the scan still stops the load.  Every other type (and DT_UNKNOWN) is
 * looked at here, for the message naming what it is.
 */
static bool
check_entry(const char *path, unsigned char d_type, bool *is_link, char **why)
{
	struct stat st;

	*is_link = false;
	if (d_type == DT_REG)
		return true;
	if (lstat(path, &st) != 0)
	{
		*why = errno == ENOENT ? xstrdup("the file vanished after the directory was read")
							   : xasprintf("%s", strerror(errno));
		return false;
	}
	if (S_ISLNK(st.st_mode))
	{
		*is_link = true;
		if (stat(path, &st) != 0)
		{
			int     stat_errno = errno;
			char    target[1024];
			ssize_t n = readlink(path, target, sizeof(target) - 1);

			if (n < 0)
				n = 0;
			target[n] = '\0';
			if (stat_errno == ENOENT)
				*why = xasprintf("dangling symbolic link (to \"%s\", which does not exist)", target);
			else
				*why = xasprintf("symbolic link to \"%s\": %s", target, strerror(stat_errno));
			return false;
		}
	}
	if (!S_ISREG(st.st_mode))
	{
		*why = xasprintf("%s%s, not a migration file", *is_link ? "a symbolic link to " : "",
						 file_kind(st.st_mode));
		return false;
	}
	return true;
}

/*
 * Read all of the regular file fd, size bytes by its fstat, NUL-terminated.
 * One read() in the usual case: the buffer has room for one byte more than
 * the file, so a short read is its end (a regular file reads short only
 * there); a file that grew since fstat is read on until read() returns 0.
 */
static char *
read_all(int fd, size_t size, size_t *len_out, char **why)
{
	size_t cap = size + 1;
	size_t len = 0;
	char  *data = xmalloc(cap + 1);

	for (;;)
	{
		ssize_t n = read(fd, data + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			*why = xasprintf("%s", strerror(errno));
			free(data);
			return NULL;
		}
		len += (size_t) n;
		if (n == 0 || len < cap)
			break;
		cap *= 2;
		data = xrealloc(data, cap + 1);
	}
	data[len] = '\0';
	*len_out = len;
	return data;
}

/*
 * Read a whole file, once; NULL and *why (caller frees) on failure.  The
 * bytes returned are the ones that are checksummed, parsed and applied.
 * O_NONBLOCK: a FIFO put in the file's place after the scan must not hang
 * the open (nor the read: fstat refuses it first); O_NOFOLLOW unless the
 * entry was a symbolic link when scanned.
 */
static char *
read_file(const char *path, bool follow, size_t *len_out, char **why)
{
	int         fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	struct stat st;
	char       *data;
	size_t      len;

	if (fd < 0)
	{
		*why = errno == ENOENT ? xstrdup("the file vanished after the directory was read")
			   : errno == ELOOP
				   ? xstrdup("the file was replaced by a symbolic link after the directory was read")
				   : xasprintf("%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0)
	{
		*why = xasprintf("%s", strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode))
	{
		*why = xasprintf("%s, not a migration file", file_kind(st.st_mode));
		close(fd);
		return NULL;
	}
	data = read_all(fd, (size_t) st.st_size, &len, why);
	close(fd);
	if (data == NULL)
		return NULL;
	if (strlen(data) != len)
	{
		*why = xstrdup("the file contains a NUL byte");
		free(data);
		return NULL;
	}
	*len_out = len;
	return data;
}

static int
compare_versions(const void *a, const void *b)
{
	const migration *ma = a, *mb = b;

	return (ma->version > mb->version) - (ma->version < mb->version);
}

/*
 * Sort a set by version.  Names sorted as strings are usually sorted by
 * version already (zero-padded versions, timestamps): then one pass over
 * it replaces qsort's copying of every entry (a tenth of a no-op run's
 * client work at 1000 files, issue 13).
 */
static void
sort_by_version(migration_set *set)
{
	for (int i = 1; i < set->n; i++)
		if (set->items[i - 1].version > set->items[i].version)
		{
			qsort(set->items, (size_t) set->n, sizeof(migration), compare_versions);
			return;
		}
}

typedef struct verify_file
{
	char   *filename;
	int64_t version;
	char   *stem;
	bool    is_link;
} verify_file;

typedef struct verify_list
{
	verify_file *items;
	int          n;
	int          cap; /* allocated length of items (memory.h) */
} verify_list;

/* A directory entry: its name, and its type as readdir() saw it. */
typedef struct dir_name
{
	char         *name;
	unsigned char type; /* DT_REG, DT_LNK, ...; DT_UNKNOWN on some filesystems */
} dir_name;

static int
compare_names(const void *a, const void *b)
{
	return strcmp(((const dir_name *) a)->name, ((const dir_name *) b)->name);
}

/*
 * The names of dir's entries that end in .sql (hidden ones aside), sorted:
 * a stable order makes the messages reproducible.  Returns false after
 * logging when the directory cannot be opened.  Caller frees the names.
 */
static bool
list_sql_names(const char *dir, dir_name **names_out, int *n_out)
{
	DIR           *d = opendir(dir);
	struct dirent *de;
	dir_name      *names = NULL;
	int            n_names = 0;
	int            cap_names = 0;

	if (d == NULL)
	{
		log_event(LOG_LEVEL_ERROR, "invalid_dir", NULL, "could not open migrations directory \"%s\": %s", dir,
				  strerror(errno));
		return false;
	}
	while ((de = readdir(d)) != NULL)
	{
		if (de->d_name[0] == '.' || !ends_with(de->d_name, SQL_SUFFIX))
			continue;
		ARRAY_GROW(names, n_names + 1, cap_names);
		names[n_names].name = xstrdup(de->d_name);
		names[n_names++].type = de->d_type;
	}
	closedir(d);
	if (n_names > 0)
		qsort(names, (size_t) n_names, sizeof(dir_name), compare_names);
	*names_out = names;
	*n_out = n_names;
	return true;
}

/*
 * Sort the named files of dir into migrations (appended to out, unsorted)
 * and verify files (appended to verifies, to be matched later).  Returns
 * false after logging when an entry cannot be read or is badly named.
 */
static bool
sort_entries(const char *dir, const dir_name *names, int n_names, migration_set *out, verify_list *verifies)
{
	bool ok = true;

	for (int i = 0; i < n_names; i++)
	{
		const char *fn = names[i].name;
		char       *path = xasprintf("%s/%s", dir, fn);
		bool        is_link;
		char       *problem;
		int64_t     version;
		size_t      stem_len;
		bool        is_verify;
		const char *why;

		/* anything named *.sql is read or the load fails: never skipped */
		if (!check_entry(path, names[i].type, &is_link, &problem))
		{
			log_event(LOG_LEVEL_ERROR, "unreadable_file", NULL, "%s: could not read: %s", path, problem);
			ok = false;
			free(problem);
			free(path);
			continue;
		}
		if (!migration_parse_filename(fn, &version, &stem_len, &is_verify, &why))
		{
			log_event(LOG_LEVEL_ERROR, "invalid_file", NULL, "%s: invalid migration file name: %s", path,
					  why);
			ok = false;
			free(path);
			continue;
		}
		if (is_verify)
		{
			ARRAY_GROW(verifies->items, verifies->n + 1, verifies->cap);
			verifies->items[verifies->n].filename = path;
			verifies->items[verifies->n].version = version;
			verifies->items[verifies->n].stem = xstrndup(fn, stem_len);
			verifies->items[verifies->n].is_link = is_link;
			verifies->n++;
			continue;
		}
		ARRAY_GROW(out->items, out->n + 1, out->cap);
		memset(&out->items[out->n], 0, sizeof(migration));
		out->items[out->n].version = version;
		out->items[out->n].stem = xstrndup(fn, stem_len);
		out->items[out->n].name = xstrdup(strchr(out->items[out->n].stem, '_') + 1);
		out->items[out->n].path = path;
		out->items[out->n].path_is_link = is_link;
		out->n++;
	}
	return ok;
}

/* In a set sorted by version: false after logging each version used twice. */
static bool
check_unique_versions(const migration_set *set)
{
	bool ok = true;

	for (int i = 1; i < set->n; i++)
	{
		if (set->items[i].version == set->items[i - 1].version)
		{
			log_event(LOG_LEVEL_ERROR, "duplicate_version", NULL,
					  "%s: duplicate version %lld: also used by %s", set->items[i].path,
					  (long long) set->items[i].version, set->items[i - 1].path);
			ok = false;
		}
	}
	return ok;
}

/*
 * Give each verify file to its migration (same version and stem).  An
 * orphan or a second verify file is logged and makes it return false.
 * Consumes the verify_file entries (not the array itself).
 */
static bool
attach_verifies(migration_set *set, const char *dir, verify_file *verifies, int n_verifies)
{
	bool ok = true;

	for (int i = 0; i < n_verifies; i++)
	{
		migration *m = migration_set_find(set, verifies[i].version);

		if (m == NULL || strcmp(m->stem, verifies[i].stem) != 0)
		{
			log_event(LOG_LEVEL_ERROR, "orphan_verify", NULL,
					  "%s: verify file without its migration (expected %s/%s.sql)", verifies[i].filename, dir,
					  verifies[i].stem);
			ok = false;
			free(verifies[i].filename);
		}
		else if (m->verify_path != NULL)
		{
			log_event(LOG_LEVEL_ERROR, "duplicate_version", NULL, "%s: second verify file for version %lld",
					  verifies[i].filename, (long long) m->version);
			ok = false;
			free(verifies[i].filename);
		}
		else
		{
			m->verify_path = verifies[i].filename;
			m->verify_is_link = verifies[i].is_link;
		}
		free(verifies[i].stem);
	}
	return ok;
}

static bool
is_blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

/*
 * Read m's file and its verify file, once: contents, checksum, directives.
 * Returns false after logging when one is unreadable, empty or has a bad
 * directive.
 */
static bool
read_migration_sources(migration *m)
{
	size_t len;
	char  *why = NULL;
	bool   ok = true;

	m->source = read_file(m->path, m->path_is_link, &len, &why);
	if (m->source == NULL)
	{
		log_event(LOG_LEVEL_ERROR, "unreadable_file", NULL, "%s: could not read: %s", m->path, why);
		free(why);
		return false;
	}
	checksum_sha256_normalized(m->source, len, m->checksum);
	if (is_blank(m->source))
	{
		log_event(LOG_LEVEL_ERROR, "empty_file", NULL, "%s: file is empty", m->path);
		ok = false;
	}
	if (!migration_read_directives(m, m->path, m->source, false))
		ok = false;
	if (m->verify_path)
	{
		m->verify_source = read_file(m->verify_path, m->verify_is_link, &len, &why);
		if (m->verify_source == NULL)
		{
			log_event(LOG_LEVEL_ERROR, "unreadable_file", NULL, "%s: could not read: %s", m->verify_path,
					  why);
			free(why);
			ok = false;
		}
		else if (is_blank(m->verify_source))
		{
			log_event(LOG_LEVEL_ERROR, "empty_file", NULL, "%s: file is empty", m->verify_path);
			ok = false;
		}
		else if (!migration_read_directives(m, m->verify_path, m->verify_source, true))
			ok = false;
	}
	return ok;
}

void
migration_loader_start(migration_loader *l, const char *dir, migration_set *out)
{
	dir_name   *names = NULL;
	int         n_names = 0;
	verify_list verifies = {0};

	memset(out, 0, sizeof(*out));
	l->out = out;
	l->next = 0;
	l->ok = list_sql_names(dir, &names, &n_names);
	if (!l->ok)
		return;
	/* every step runs even after a failure: one load reports every problem */
	l->ok = sort_entries(dir, names, n_names, out, &verifies);
	sort_by_version(out);
	if (!check_unique_versions(out))
		l->ok = false;
	if (!attach_verifies(out, dir, verifies.items, verifies.n))
		l->ok = false;
	free(verifies.items);
	for (int i = 0; i < n_names; i++)
		free(names[i].name);
	free(names);
}

bool
migration_loader_step(migration_loader *l, int max_files)
{
	for (; l->next < l->out->n && max_files > 0; l->next++, max_files--)
		if (!read_migration_sources(&l->out->items[l->next]))
			l->ok = false;
	return l->next >= l->out->n;
}

int
migration_set_load_all(const char *dir, migration_set *out)
{
	migration_loader l;

	migration_loader_start(&l, dir, out);
	while (!migration_loader_step(&l, INT_MAX))
		;
	return l.ok ? EXIT_OK : EXIT_USAGE;
}

int
migration_set_load(const char *dir, migration_set *out)
{
	int rc = migration_set_load_all(dir, out);

	if (rc != EXIT_OK)
		migration_set_free(out);
	return rc;
}

static void
log_parse_error(const char *path, const sql_parse_error *err)
{
	if (err->line > 0)
	{
		log_event(LOG_LEVEL_ERROR, "syntax_error", NULL, "%s:%d:%d: %s", path, err->line, err->column,
				  err->message);
		if (err->line_text)
			log_event(LOG_LEVEL_ERROR, "syntax_error_line", NULL, "%s:%d: %s", path, err->line,
					  err->line_text);
	}
	else
		log_event(LOG_LEVEL_ERROR, "syntax_error", NULL, "%s: %s", path, err->message);
}

int
migration_parse_verify(migration *m)
{
	sql_parse_error err = {0};

	if (m->verify_source == NULL || m->verify_parsed)
		return EXIT_OK;
	if (!sql_parse_script(m->verify_source, &m->verify_script, &err))
	{
		log_parse_error(m->verify_path, &err);
		sql_parse_error_free(&err);
		return EXIT_USAGE;
	}
	if (m->verify_script.n_stmts == 0)
	{
		log_event(LOG_LEVEL_ERROR, "empty_file", NULL, "%s: file contains no SQL statement", m->verify_path);
		return EXIT_USAGE;
	}
	for (int i = 0; i < m->verify_script.n_stmts; i++)
	{
		const sql_statement *st = &m->verify_script.stmts[i];

		if (strcmp(st->kind, "SelectStmt") != 0)
		{
			log_event(LOG_LEVEL_ERROR, "invalid_verify", NULL,
					  "%s:%d:%d: a verify file may hold only SELECT statements (found %s)", m->verify_path,
					  st->line, st->column, st->kind);
			return EXIT_USAGE;
		}
	}
	m->verify_parsed = true;
	return EXIT_OK;
}

int
migration_parse(migration *m)
{
	sql_parse_error err = {0};
	int             rc;

	if (m->parsed)
		return EXIT_OK;
	if (!sql_parse_script(m->source, &m->script, &err))
	{
		log_parse_error(m->path, &err);
		sql_parse_error_free(&err);
		return EXIT_USAGE;
	}
	if (m->script.n_stmts == 0)
	{
		log_event(LOG_LEVEL_ERROR, "empty_file", NULL, "%s: file contains no SQL statement", m->path);
		return EXIT_USAGE;
	}
	rc = migration_parse_verify(m);
	if (rc != EXIT_OK)
		return rc;
	m->parsed = true;
	return EXIT_OK;
}

migration *
migration_set_find(const migration_set *set, int64_t version)
{
	int lo = 0, hi = set->n - 1;

	while (lo <= hi)
	{
		int mid = (lo + hi) / 2;

		if (set->items[mid].version == version)
			return &set->items[mid];
		if (set->items[mid].version < version)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

void
migration_set_free(migration_set *set)
{
	if (set == NULL)
		return;
	for (int i = 0; i < set->n; i++)
	{
		migration *m = &set->items[i];

		free(m->name);
		free(m->stem);
		free(m->path);
		free(m->source);
		free(m->verify_path);
		free(m->verify_source);
		for (int j = 0; j < m->n_required_indexes; j++)
			free(m->required_indexes[j]);
		free(m->required_indexes);
		sql_script_free(&m->script);
		sql_script_free(&m->verify_script);
	}
	free(set->items);
	set->items = NULL;
	set->n = set->cap = 0;
}
