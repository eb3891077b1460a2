/*-------------------------------------------------------------------------
 *
 * sha256.h
 *	  SHA-256 (FIPS 180-4), in-tree, for the migration files' checksums.
 *
 * libcrypto's EVP_DigestInit_ex(EVP_sha256()) fetches the algorithm from
 * its default provider the first time, which initialises the whole
 * library (configuration file, every cipher and digest name in its tables):
 * about half of a no-op `migrator up`'s own CPU time (issue 13, measured in
 * bench/AB.md).  The checksums are a few hundred bytes per file, so a small
 * self-contained implementation costs nothing at start-up and hashes them
 * as fast.  Checked against FIPS 180-4's examples and against libcrypto
 * over many lengths and split points (tests/unit/sha256_test.c).
 *
 * Streaming: sha256_init, any number of sha256_update, sha256_final.
 *
 * common/sha256.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_SHA256_H
#define TOOLKIT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32

typedef struct sha256_ctx
{
	uint32_t state[8];
	uint64_t total;      /* bytes fed so far */
	uint8_t  block[64];  /* the partial block */
	size_t   block_used; /* bytes of block in use, below 64 */
} sha256_ctx;

/* Start a digest.  Never fails. */
void sha256_init(sha256_ctx *ctx);

/* Feed len bytes at data (may be NULL when len is 0).  Never fails. */
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);

/* The digest of everything fed, into digest; ctx must be initialised again before reuse. */
void sha256_final(sha256_ctx *ctx, uint8_t digest[SHA256_DIGEST_LEN]);

#endif /* TOOLKIT_SHA256_H */
