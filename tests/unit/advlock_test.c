/*-------------------------------------------------------------------------
 *
 * advlock_test.c
 *	  Unit tests for common/md5.c and the run lock's key (common/advlock.c).
 *
 * tests/unit/advlock_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "advlock.h"
#include "md5.h"

static void
assert_md5(const char *input, size_t len, const char *hex)
{
	uint8_t digest[MD5_DIGEST_LENGTH];
	char    got[2 * MD5_DIGEST_LENGTH + 1];

	md5_digest(input, len, digest);
	for (int i = 0; i < MD5_DIGEST_LENGTH; i++)
		snprintf(got + 2 * i, 3, "%02x", digest[i]);
	assert_string_equal(got, hex);
}

/* The test suite of RFC 1321, appendix A.5. */
static void
test_md5_rfc1321_suite(void **state)
{
	(void) state;
	assert_md5("", 0, "d41d8cd98f00b204e9800998ecf8427e");
	assert_md5("a", 1, "0cc175b9c0f1b6a831c399e269772661");
	assert_md5("abc", 3, "900150983cd24fb0d6963f7d28e17f72");
	assert_md5("message digest", 14, "f96b697d7cb7938d525a2f31aaf161d0");
	assert_md5("abcdefghijklmnopqrstuvwxyz", 26, "c3fcd3d76192e4007dfb496cca67e13b");
	assert_md5("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 62,
			   "d174ab98d277d9f5a5611c2c9f419d9f");
	assert_md5("12345678901234567890123456789012345678901234567890123456789012345678901234567890", 80,
			   "57edf4a22be3c955ac49da2e2107b67a");
}

/* Lengths around the padding's block boundaries (55, 56, 63, 64, 65 bytes). */
static void
test_md5_block_boundaries(void **state)
{
	char buf[130];

	(void) state;
	memset(buf, 'a', sizeof(buf));
	/* reference values: printf 'a%.0s' {1..N} | md5sum */
	assert_md5(buf, 55, "ef1772b6dff9a122358552954ad0df65");
	assert_md5(buf, 56, "3b0c8ac703f828b04c6c197006d17218");
	assert_md5(buf, 63, "b06521f39153d618550606be297466d5");
	assert_md5(buf, 64, "014842d480b571495a4a0363793f7367");
	assert_md5(buf, 65, "c743a45e0d2e6a95cb859adae0248435");
	assert_md5(buf, 128, "e510683b3f5ffe4093d021808bc6ff70");
}

/*
 * The keys a PostgreSQL 15 server (UTF-8) computes with the expression older
 * versions used, ('x' || substr(md5(name), 1, 16))::bit(64)::bigint: both
 * signs, the empty name, and non-ASCII names.
 */
static void
test_key_matches_server_expression(void **state)
{
	(void) state;
	assert_true(advlock_key("indexer:postgres") == INT64_C(-7711628650338128372));
	assert_true(advlock_key("migrator:\"public\".\"schema_migrations\"") == INT64_C(808103665270441208));
	assert_true(advlock_key("indexer:app_db") == INT64_C(6438052868667597264));
	assert_true(advlock_key("a") == INT64_C(919145239626757800));
	assert_true(advlock_key("") == INT64_C(-3162216497309240828));
	assert_true(advlock_key("indexer:\xc3\xa9t\xc3\xa9_\xe6\x97\xa5\xe6\x9c\xac") ==
				INT64_C(-583859042080016410));
	assert_true(advlock_key("migrator:\"\xc3\xbcn\xc3\xaf\".\"hist\"") == INT64_C(-4222378463907944815));
}

/* One name per program, as both the migrator and the indexer build it. */
static void
test_lock_names(void **state)
{
	char *m = advlock_name(ADVLOCK_MIGRATOR, "\"public\".\"schema_migrations\"");
	char *i = advlock_name(ADVLOCK_INDEXER, "app_db");

	(void) state;
	assert_string_equal(m, "migrator:\"public\".\"schema_migrations\"");
	assert_string_equal(i, "indexer:app_db");
	assert_true(advlock_key(i) == INT64_C(6438052868667597264));
	free(m);
	free(i);
}

/* Both names from the one function. */
static void
test_lock_name_one_function(void **state)
{
	char *m = advlock_name(ADVLOCK_MIGRATOR, "\"s\".\"h\"");
	char *i = advlock_name(ADVLOCK_INDEXER, "db");

	(void) state;
	assert_string_equal(m, "migrator:\"s\".\"h\"");
	assert_string_equal(i, "indexer:db");
	free(m);
	free(i);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md5_rfc1321_suite),
		cmocka_unit_test(test_md5_block_boundaries),
		cmocka_unit_test(test_key_matches_server_expression),
		cmocka_unit_test(test_lock_names),
		cmocka_unit_test(test_lock_name_one_function),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
