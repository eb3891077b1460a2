/*-------------------------------------------------------------------------
 *
 * checksum_test.c
 *	  Unit tests for common/checksum.c: SHA-256 blind to line endings and BOM.
 *
 * Expected digests were computed independently (Python's hashlib) over the
 * normalised text.
 *
 * tests/unit/checksum_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "checksum.h"

#define SHA256_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* digest of a NUL-terminated string */
static void
digest_str(const char *s, char hex[CHECKSUM_HEX_LEN + 1])
{
	checksum_sha256_normalized(s, strlen(s), hex);
}

static void
test_known_digest(void **state)
{
	char hex[CHECKSUM_HEX_LEN + 1];

	digest_str("abc", hex);
	assert_string_equal(hex, SHA256_ABC);

	digest_str("CREATE TABLE t (id int);\n", hex);
	assert_string_equal(hex, "12c83f983b0c94b9c7010dcc92149589d5fb01a3d32af8f6d699545d95db9040");
}

static void
test_output_format(void **state)
{
	char hex[CHECKSUM_HEX_LEN + 2];

	memset(hex, 'X', sizeof(hex));
	digest_str("abc", hex);
	assert_int_equal(strlen(hex), CHECKSUM_HEX_LEN);
	assert_int_equal(strspn(hex, "0123456789abcdef"), CHECKSUM_HEX_LEN);
	/* nothing written past the NUL */
	assert_int_equal(hex[CHECKSUM_HEX_LEN + 1], 'X');
}

static void
test_empty(void **state)
{
	char hex[CHECKSUM_HEX_LEN + 1];

	digest_str("", hex);
	assert_string_equal(hex, SHA256_EMPTY);
	checksum_sha256_normalized(NULL, 0, hex);
	assert_string_equal(hex, SHA256_EMPTY);
	/* a BOM alone is an empty file */
	digest_str("\xEF\xBB\xBF", hex);
	assert_string_equal(hex, SHA256_EMPTY);
}

static void
test_line_endings_and_bom_agree(void **state)
{
	static const char *const variants[] = {
		"SELECT 1;\nSELECT 2;\n",
		"SELECT 1;\r\nSELECT 2;\r\n",
		"\xEF\xBB\xBFSELECT 1;\r\nSELECT 2;\r\n",
		"\xEF\xBB\xBFSELECT 1;\nSELECT 2;\n",
		"SELECT 1;\rSELECT 2;\r",
		"SELECT 1;\r\nSELECT 2;\r",
	};
	char first[CHECKSUM_HEX_LEN + 1];
	char hex[CHECKSUM_HEX_LEN + 1];

	digest_str(variants[0], first);
	for (size_t i = 1; i < sizeof(variants) / sizeof(variants[0]); i++)
	{
		digest_str(variants[i], hex);
		assert_string_equal(hex, first);
	}

	digest_str("\xEF\xBB\xBF"
			   "abc",
			   hex);
	assert_string_equal(hex, SHA256_ABC);
}

/* CR CR LF is two line breaks; CRLF is one. */
static void
test_cr_sequences(void **state)
{
	char a[CHECKSUM_HEX_LEN + 1];
	char b[CHECKSUM_HEX_LEN + 1];

	digest_str("a\r\r\nb", a);
	digest_str("a\n\nb", b);
	assert_string_equal(a, b);

	digest_str("a\n\rb", a);
	digest_str("a\n\nb", b);
	assert_string_equal(a, b);

	digest_str("a\r\nb", a);
	assert_string_not_equal(a, b);
}

/* Only one leading BOM goes, and only at the start. */
static void
test_bom_only_once_and_only_first(void **state)
{
	char hex[CHECKSUM_HEX_LEN + 1];

	/* a second BOM is content: sha256("\xEF\xBB\xBF" "abc") */
	digest_str("\xEF\xBB\xBF\xEF\xBB\xBF"
			   "abc",
			   hex);
	assert_string_equal(hex, "1c28dc3f1f804a1ad9c9b4b4cf5e2658d16ad4ed08e3020d04a8d2865018947c");

	digest_str("a\xEF\xBB\xBF"
			   "bc",
			   hex);
	assert_string_not_equal(hex, SHA256_ABC);

	/* a truncated BOM is content too */
	digest_str("\xEF\xBB", hex);
	assert_string_not_equal(hex, SHA256_EMPTY);
}

static void
test_different_content_differs(void **state)
{
	char a[CHECKSUM_HEX_LEN + 1];
	char b[CHECKSUM_HEX_LEN + 1];

	digest_str("CREATE INDEX i ON t (a);\n", a);
	digest_str("CREATE INDEX i ON t (b);\n", b);
	assert_string_not_equal(a, b);

	/* trailing white space is content; only line endings are normalised */
	digest_str("SELECT 1;\n", a);
	digest_str("SELECT 1; \n", b);
	assert_string_not_equal(a, b);
}

/* The length decides, not a NUL: "a\0b" is three bytes. */
static void
test_embedded_nul(void **state)
{
	char hex[CHECKSUM_HEX_LEN + 1];

	checksum_sha256_normalized("a\0b", 3, hex);
	assert_string_equal(hex, "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");

	/* and only len bytes are read */
	checksum_sha256_normalized("abcdef", 3, hex);
	assert_string_equal(hex, SHA256_ABC);
}

/*
 * More than one internal chunk, with CRLF pairs falling across the chunk
 * boundaries: "line\r\n" x 5000 digests as "line\n" x 5000.
 */
static void
test_large_input(void **state)
{
	const char *line = "line\r\n";
	size_t      n = 5000;
	size_t      len = n * strlen(line);
	char       *buf = malloc(len);
	char        hex[CHECKSUM_HEX_LEN + 1];

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		memcpy(buf + i * strlen(line), line, strlen(line));
	checksum_sha256_normalized(buf, len, hex);
	free(buf);
	assert_string_equal(hex, "2b1be76bf12521a5a5fc159055963d3e9fe6561a3539381a55bba7696bc03fb6");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_digest),
		cmocka_unit_test(test_output_format),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_line_endings_and_bom_agree),
		cmocka_unit_test(test_cr_sequences),
		cmocka_unit_test(test_bom_only_once_and_only_first),
		cmocka_unit_test(test_different_content_differs),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_large_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
