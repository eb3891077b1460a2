/*-------------------------------------------------------------------------
 *
 * config_fuzz.c
 *	  Fuzz target: the index definitions loader (indexer/definitions.c, with
 *	  indexer/settings.c and the index statement checks it calls).
 *
 * The input is a definitions file.  config_load() takes a path, as the
 * indexer does, so each input is written to one scratch file, then loaded,
 * resolved against a default schema, its settings applied and each
 * definition looked up by name.  Checked besides crashes and leaks: a file
 * that loads has every definition's name and table, a statement for every
 * index to build, and settings that config_apply_settings() can apply
 * without a refusal (definitions.h says they cannot fail).
 *
 * tests/fuzz/config_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_input.h"

#include <unistd.h>

#include "definitions.h"
#include "exitcodes.h"
#include "log.h"
#include "settings.h"

static char scratch_file[4096];

/* at exit, so that runs leave nothing behind */
static void
remove_scratch_file(void)
{
	unlink(scratch_file);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	int         fd;

	log_init("fuzz", LOG_FORMAT_TEXT, -1);
	snprintf(scratch_file, sizeof(scratch_file), "%s/config_fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(scratch_file);
	if (fd < 0)
	{
		perror("mkstemp");
		abort();
	}
	close(fd);
	atexit(remove_scratch_file);
	return 0;
}

static void
check_loaded(index_config *cfg)
{
	indexer_settings s;

	for (int i = 0; i < cfg->n_defs; i++)
	{
		const index_def *d = &cfg->defs[i];

		FUZZ_CHECK(d->name != NULL && d->table != NULL && d->line >= 1);
		FUZZ_CHECK(d->state == INDEX_STATE_ABSENT || (d->sql != NULL && d->parsed != NULL));
		FUZZ_CHECK(config_find(cfg, d->name) != NULL);
	}
	settings_init(&s);
	for (int i = 0; i < cfg->n_settings; i++)
	{
		char why[256];

		FUZZ_CHECK(
			settings_apply(&s, cfg->settings[i].id, cfg->settings[i].value, ORIGIN_FILE, why, sizeof(why)));
	}
	config_apply_settings(cfg, &s);
	(void) config_resolve(cfg, s.schema);
	settings_free(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE        *f = fopen(scratch_file, "wb");
	index_config cfg;

	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(fwrite(data, 1, size, f) == size);
	FUZZ_CHECK(fclose(f) == 0);
	if (config_load(scratch_file, &cfg) == EXIT_OK)
		check_loaded(&cfg);
	config_free(&cfg);
	return 0;
}
