/*-------------------------------------------------------------------------
 *
 * options_fuzz.c
 *	  Fuzz target: the option value parsers of common/options.c (durations,
 *	  bounded numbers, memory sizes) and the indexer's settings table that
 *	  uses them (indexer/settings.c).
 *
 * Besides crashes and undefined behaviour it checks each parser's
 * contract: a refusal stores nothing and gives a reason; an accepted value
 * lies within its bounds; a duration printed by format_duration() parses
 * back to the same number of milliseconds.
 *
 * tests/fuzz/options_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_input.h"

#include "log.h"
#include "options.h"
#include "settings.h"

#define UNTOUCHED       ((int64_t) -7)
#define MAX_DURATION_MS ((int64_t) 24 * 24 * 3600 * 1000)
#define MAX_SIZE_KB     ((int64_t) 2 * 1024 * 1024 * 1024)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_FORMAT_TEXT, -1);
	return 0;
}

static void
check_duration(const char *s)
{
	char    why[256] = "";
	char    text[64];
	int64_t ms = UNTOUCHED;
	int64_t again = UNTOUCHED;

	if (!parse_duration(s, &ms, why, sizeof(why)))
	{
		FUZZ_CHECK(ms == UNTOUCHED && why[0] != '\0');
		return;
	}
	FUZZ_CHECK(ms >= 0 && ms <= MAX_DURATION_MS);
	format_duration(ms, text, sizeof(text));
	FUZZ_CHECK(parse_duration(text, &again, why, sizeof(why)));
	FUZZ_CHECK(again == ms);
}

static void
check_size(const char *s)
{
	char    why[256] = "";
	int64_t kb = UNTOUCHED;

	if (!parse_memory_size(s, &kb, why, sizeof(why)))
		FUZZ_CHECK(kb == UNTOUCHED && why[0] != '\0');
	else
		FUZZ_CHECK(kb >= 1 && kb <= MAX_SIZE_KB);
}

static void
check_int(const char *s, int64_t min, int64_t max)
{
	char    why[256] = "";
	int64_t n = UNTOUCHED;

	if (!parse_int_range(s, min, max, &n, why, sizeof(why)))
		FUZZ_CHECK(n == UNTOUCHED && why[0] != '\0');
	else
		FUZZ_CHECK(n >= min && n <= max);
}

/* Every setting of the indexer, each with the same text. */
static void
check_settings(const char *s)
{
	indexer_settings set;

	settings_init(&set);
	for (int id = 0; id < N_SETTINGS; id++)
	{
		char why[256] = "";

		if (!settings_apply(&set, (setting_id) id, s, ORIGIN_FILE, why, sizeof(why)))
			FUZZ_CHECK(why[0] != '\0' && set.origin[id] == ORIGIN_DEFAULT);
		else
			FUZZ_CHECK(set.origin[id] == ORIGIN_FILE);
	}
	FUZZ_CHECK(set.jobs >= 1 && set.jobs <= INDEXER_MAX_JOBS);
	settings_free(&set);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size);

	check_duration(s);
	check_size(s);
	check_int(s, 1, INDEXER_MAX_JOBS);
	check_int(s, INT64_MIN, INT64_MAX);
	check_settings(s);
	free(s);
	return 0;
}
