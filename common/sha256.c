/*-------------------------------------------------------------------------
 *
 * sha256.c
 *	  SHA-256 (FIPS 180-4), in-tree, for the migration files' checksums.
 *
 * A direct reading of FIPS 180-4, sections 4.1.2, 4.2.2, 5.1.1, 5.3.3 and
 * 6.2.2: the message is padded with 0x80, zeros and its length in bits
 * (64 bits, big-endian) to a multiple of 64 bytes, and each 64-byte block
 * goes through 64 rounds.  Words are read and the digest written
 * big-endian, byte by byte, so the result does not depend on the host's
 * byte order.
 *
 * common/sha256.c
 *
 *-------------------------------------------------------------------------
 */
#include "sha256.h"

#include <string.h>

/* The round constants K, FIPS 180-4 section 4.2.2. */
static const uint32_t round_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/*
 * One round (section 6.2.2, step 3) with the working variables renamed
 * instead of moved: the caller passes them rotated by one each round, so
 * eight rounds in a row leave them where they started.
 */
#define ROUND(a, b, c, d, e, f, g, h, i)                                                                     \
	do                                                                                                       \
	{                                                                                                        \
		uint32_t t1_ = (h) + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + (((e) & (f)) ^ (~(e) & (g))) +       \
					   round_k[i] + w[i];                                                                    \
		uint32_t t2_ = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + (((a) & (b)) ^ ((a) & (c)) ^ ((b) & (c))); \
		(d) += t1_;                                                                                          \
		(h) = t1_ + t2_;                                                                                     \
	} while (0)

/* Process one 64-byte block into state (section 6.2.2). */
static void
sha256_block(uint32_t state[8], const uint8_t block[64])
{
	uint32_t w[64];
	uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
	uint32_t e = state[4], f = state[5], g = state[6], h = state[7];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t) block[i * 4] << 24 | (uint32_t) block[i * 4 + 1] << 16 |
			   (uint32_t) block[i * 4 + 2] << 8 | (uint32_t) block[i * 4 + 3];
	for (int i = 16; i < 64; i++)
	{
		uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	for (int i = 0; i < 64; i += 8)
	{
		ROUND(a, b, c, d, e, f, g, h, i);
		ROUND(h, a, b, c, d, e, f, g, i + 1);
		ROUND(g, h, a, b, c, d, e, f, i + 2);
		ROUND(f, g, h, a, b, c, d, e, i + 3);
		ROUND(e, f, g, h, a, b, c, d, i + 4);
		ROUND(d, e, f, g, h, a, b, c, i + 5);
		ROUND(c, d, e, f, g, h, a, b, i + 6);
		ROUND(b, c, d, e, f, g, h, a, i + 7);
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
	state[4] += e;
	state[5] += f;
	state[6] += g;
	state[7] += h;
}

void
sha256_init(sha256_ctx *ctx)
{
	/* the initial hash value H(0), section 5.3.3 */
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
								   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	memcpy(ctx->state, h0, sizeof(h0));
	ctx->total = 0;
	ctx->block_used = 0;
}

void
sha256_update(sha256_ctx *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (len == 0)
		return; /* data may be NULL */
	ctx->total += len;
	if (ctx->block_used > 0)
	{
		size_t take = 64 - ctx->block_used;

		if (take > len)
			take = len;
		memcpy(ctx->block + ctx->block_used, p, take);
		ctx->block_used += take;
		p += take;
		len -= take;
		if (ctx->block_used < 64)
			return;
		sha256_block(ctx->state, ctx->block);
		ctx->block_used = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha256_block(ctx->state, p);
	if (len > 0)
		memcpy(ctx->block, p, len);
	ctx->block_used = len;
}

void
sha256_final(sha256_ctx *ctx, uint8_t digest[SHA256_DIGEST_LEN])
{
	uint64_t bits = ctx->total * 8;
	size_t   used = ctx->block_used;

	/* 0x80, zeros, and the length in bits: in this block or the next */
	ctx->block[used++] = 0x80;
	if (used > 56)
	{
		memset(ctx->block + used, 0, 64 - used);
		sha256_block(ctx->state, ctx->block);
		used = 0;
	}
	memset(ctx->block + used, 0, 56 - used);
	for (int i = 0; i < 8; i++)
		ctx->block[56 + i] = (uint8_t) (bits >> (56 - 8 * i));
	sha256_block(ctx->state, ctx->block);
	for (int i = 0; i < 8; i++)
		for (int k = 0; k < 4; k++)
			digest[i * 4 + k] = (uint8_t) (ctx->state[i] >> (24 - 8 * k));
}
