/*-------------------------------------------------------------------------
 *
 * sha256_test.c
 *	  Nettle's SHA-256, as common/checksum.c feeds it: FIPS 180-4's
 *	  examples, and libcrypto's digest of the same bytes (what builds before
 *	  nettle stored in the history) over every length around the padding
 *	  boundaries, fed whole and split at every point.
 *
 * tests/unit/sha256_test.c
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
#include <openssl/evp.h>

#include <nettle/sha2.h>

static void
to_hex(const uint8_t md[SHA256_DIGEST_SIZE], char hex[2 * SHA256_DIGEST_SIZE + 1])
{
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void
digest_hex(const void *data, size_t len, char hex[2 * SHA256_DIGEST_SIZE + 1])
{
	struct sha256_ctx ctx;
	uint8_t           md[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, md);
	to_hex(md, hex);
}

/* FIPS 180-4's examples (NIST's SHA256.pdf): one block, two blocks, a million 'a'. */
static void
test_fips_examples(void **state)
{
	const char       *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char              hex[2 * SHA256_DIGEST_SIZE + 1];
	char             *million = malloc(1000000);
	struct sha256_ctx ctx;
	uint8_t           md[SHA256_DIGEST_SIZE];

	digest_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	digest_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_hex(NULL, 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_hex(two, strlen(two), hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	assert_non_null(million);
	memset(million, 'a', 1000000);
	digest_hex(million, 1000000, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* the same in odd pieces */
	sha256_init(&ctx);
	for (size_t off = 0; off < 1000000; off += 997)
		sha256_update(&ctx, off + 997 <= 1000000 ? 997 : 1000000 - off, (const uint8_t *) million + off);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, md);
	to_hex(md, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static void
libcrypto_hex(const uint8_t *data, size_t len, char hex[2 * SHA256_DIGEST_SIZE + 1])
{
	uint8_t      md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	assert_int_equal(EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL), 1);
	assert_int_equal(md_len, SHA256_DIGEST_SIZE);
	to_hex(md, hex);
}

/*
 * Every length from 0 to 300 bytes (every position of the padding, one
 * block or two, up to several blocks), whole and split in two at every
 * point, and in three, agrees with libcrypto.
 */
static void
test_agrees_with_libcrypto(void **state)
{
	uint8_t  data[300];
	uint32_t x = 2463534242u;

	for (size_t i = 0; i < sizeof(data); i++)
	{
		x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift: all byte values */
		data[i] = (uint8_t) x;
	}
	for (size_t len = 0; len <= sizeof(data); len++)
	{
		char want[2 * SHA256_DIGEST_SIZE + 1];
		char got[2 * SHA256_DIGEST_SIZE + 1];

		libcrypto_hex(data, len, want);
		digest_hex(data, len, got);
		assert_string_equal(got, want);
		for (size_t cut = 0; cut <= len; cut++)
		{
			struct sha256_ctx ctx;
			uint8_t           md[SHA256_DIGEST_SIZE];
			size_t            mid = cut + (len - cut) / 2;

			sha256_init(&ctx);
			sha256_update(&ctx, cut, data);
			sha256_update(&ctx, mid - cut, data + cut);
			sha256_update(&ctx, len - mid, data + mid);
			sha256_digest(&ctx, SHA256_DIGEST_SIZE, md);
			to_hex(md, got);
			assert_string_equal(got, want);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fips_examples),
		cmocka_unit_test(test_agrees_with_libcrypto),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
