/*-------------------------------------------------------------------------
 *
 * migration_files_fuzz.c
 *	  Fuzz target: the migration file-name parser, the directive reader and
 *	  the directory loader (migrator/migration_files.c).
 *
 * The input's first line is a file name, the rest the file's text.  The
 * name goes to migration_parse_filename(), the text to
 * migration_read_directives() (as a migration and as a verify file), and
 * both together through migration_set_load() and migration_parse(): the
 * file is written under that name into an empty scratch directory, unless
 * the name cannot be a file name there.  Checked besides crashes: an
 * accepted name is exactly <digits>_<name>.sql or .verify.sql with the
 * version and stem it reports; a verify file takes no directive; a loaded
 * migration has the file's text, name and version.
 *
 * tests/fuzz/migration_files_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_input.h"

#include <ctype.h>
#include <fcntl.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "migration_directives.h"
#include "migration_files.h"

static char scratch_dir[4096];

/* at exit, so that runs leave nothing behind (check_load empties it) */
static void
remove_scratch_dir(void)
{
	rmdir(scratch_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	log_init("fuzz", LOG_FORMAT_TEXT, -1);
	snprintf(scratch_dir, sizeof(scratch_dir), "%s/migration_files_fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(scratch_dir) == NULL)
	{
		perror("mkdtemp");
		abort();
	}
	atexit(remove_scratch_dir);
	return 0;
}

static void
check_filename(const char *name)
{
	int64_t     version = -1;
	size_t      stem_len = 0;
	bool        is_verify = false;
	const char *why = NULL;
	size_t      len = strlen(name);
	size_t      digits = 0;
	int64_t     expected = 0;

	if (!migration_parse_filename(name, &version, &stem_len, &is_verify, &why))
	{
		FUZZ_CHECK(why != NULL && why[0] != '\0');
		return;
	}
	/* <digits>_<name>(.sql|.verify.sql), and nothing else */
	FUZZ_CHECK(len > 4 && strcmp(name + len - 4, ".sql") == 0);
	FUZZ_CHECK(stem_len == len - (is_verify ? strlen(".verify.sql") : strlen(".sql")));
	while (isdigit((unsigned char) name[digits]))
		expected = expected * 10 + (name[digits++] - '0');
	FUZZ_CHECK(digits > 0 && version == expected && version > 0);
	FUZZ_CHECK(name[digits] == '_' && digits + 1 < stem_len);
	for (size_t i = digits + 1; i < stem_len; i++)
		FUZZ_CHECK(isalnum((unsigned char) name[i]) || name[i] == '_' || name[i] == '-');
}

static void
check_directives(const char *text)
{
	migration m;

	memset(&m, 0, sizeof(m));
	(void) migration_read_directives(&m, "fuzz.sql", text, false);
	for (int i = 0; i < m.n_required_indexes; i++)
	{
		FUZZ_CHECK(m.required_indexes[i][0] != '\0');
		FUZZ_CHECK(strpbrk(m.required_indexes[i], " \t\r\n") == NULL);
		free(m.required_indexes[i]);
	}
	free(m.required_indexes);

	/* a verify file's directives are refused, never taken */
	memset(&m, 0, sizeof(m));
	(void) migration_read_directives(&m, "fuzz.verify.sql", text, true);
	FUZZ_CHECK(!m.no_transaction && !m.allow_dml && m.n_required_indexes == 0);
}

/* Write text as dir/name, load the directory, parse what loaded. */
static void
check_load(const char *name, const char *text)
{
	char         *path;
	int           fd;
	size_t        len = strlen(text);
	migration_set set;

	if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return;
	path = xasprintf("%s/%s", scratch_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
	{
		free(path); /* too long, or otherwise no file name here */
		return;
	}
	FUZZ_CHECK(write(fd, text, len) == (ssize_t) len);
	close(fd);

	if (migration_set_load(scratch_dir, &set) == EXIT_OK && set.n == 0)
	{
		size_t n = strlen(name);

		/* hidden files and files not named *.sql are not migrations */
		FUZZ_CHECK(name[0] == '.' || n < 4 || strcmp(name + n - 4, ".sql") != 0);
	}
	else if (set.n > 0)
	{
		int64_t     version;
		size_t      stem_len;
		bool        is_verify;
		const char *why;

		/* only a migration (not a lone verify file) with text loads */
		FUZZ_CHECK(migration_parse_filename(name, &version, &stem_len, &is_verify, &why) && !is_verify);
		FUZZ_CHECK(set.n == 1 && set.items[0].version == version);
		FUZZ_CHECK(strcmp(set.items[0].source, text) == 0);
		FUZZ_CHECK(strlen(set.items[0].checksum) == CHECKSUM_HEX_LEN);
		FUZZ_CHECK(migration_set_find(&set, version) == &set.items[0]);
		(void) migration_parse(&set.items[0]);
		migration_set_free(&set);
	}
	FUZZ_CHECK(unlink(path) == 0);
	free(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input = fuzz_string(data, size);
	char *text = strchr(input, '\n');

	if (text != NULL)
		*text++ = '\0';
	else
		text = input + strlen(input);
	check_filename(input);
	check_directives(text);
	check_load(input, text);
	free(input);
	return 0;
}
